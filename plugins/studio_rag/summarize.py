"""Tree summarization: retrieved passages summarised pairwise, level by level, to one answer.

Each level halves the list (an odd one out goes up as it is), the pairs of a level run
concurrently, and every call is a traced model call of the prompt engine, so the trace
shows the tree. Summaries keep to the question, so facts it needs survive the levels.
"""

from __future__ import annotations

import asyncio
from typing import Any

PAIR = "question, first: str, second: str -> summary"
PAIR_INSTRUCTIONS = (
    "Merge the two passages into one short summary that keeps every fact relevant to the question "
    "(names, numbers, conditions) and drops the rest."
)
ANSWER = "question, context: str -> answer"
ANSWER_INSTRUCTIONS = "Answer the question from the context alone; say so if the context does not contain the answer."


async def tree_summarize(question: str, passages: list[str], runtime: Any) -> dict[str, Any]:
    level, levels = [p for p in passages if p.strip()], 0
    if not level:
        return {"answer": "", "summary": "", "levels": 0}
    while len(level) > 1:
        pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
        merged = await asyncio.gather(*(_merge(question, pair, runtime) for pair in pairs))
        level, levels = list(merged), levels + 1
    answer = await runtime.predict(ANSWER, ANSWER_INSTRUCTIONS, question=question, context=level[0])
    return {"answer": answer["answer"], "summary": level[0], "levels": levels}


async def _merge(question: str, pair: list[str], runtime: Any) -> str:
    if len(pair) == 1:
        return pair[0]
    out = await runtime.predict(PAIR, PAIR_INSTRUCTIONS, question=question, first=pair[0], second=pair[1])
    return out["summary"]
