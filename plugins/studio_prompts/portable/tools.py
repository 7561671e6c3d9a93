"""The ReAct step's prompt: its instructions (the tool list) and fields, from the tools.

Why here: the engine (``react.ReAct``) and an exported script both build it from the
functions themselves (name, parameters, docstring), so they send the very same prompt — and
the exporter never has to import a workflow's tools to write the script: the script
describes them when it runs, after importing them itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .formats import Field

FINISH = "finish"


def describe_tool(fn: Callable[..., Any]) -> str:
    params = ", ".join(
        f"{p.name}"
        + (
            f": {getattr(p.annotation, '__name__', p.annotation)}"
            if p.annotation is not inspect.Parameter.empty
            else ""
        )
        for p in inspect.signature(fn).parameters.values()
    )
    doc = " ".join((inspect.getdoc(fn) or "").split())
    return f"{fn.__name__}({params})" + (f": {doc}" if doc else "")


def tool_table(tools: list[Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Tools by the name the model calls them: their function's name."""
    return {fn.__name__: fn for fn in tools}


def react_step(instructions: str, inputs: tuple, outputs: tuple, tools: dict[str, Callable[..., Any]]) -> tuple:
    """``(instructions, inputs, outputs)`` of the step that picks the next tool, for a ReAct
    over ``inputs -> outputs`` (tuples of ``Field``) with ``tools`` (``tool_table``)."""
    names = list(tools) + [FINISH]
    tool_list = "\n".join(f"({i}) {describe_tool(fn)}" for i, fn in enumerate(tools.values(), 1))
    text = (
        f"{instructions}\n\nYou will be given {', '.join(f'`{f[0]}`' for f in inputs)} "
        f"and your past trajectory. Reason about the next step, then call one tool by "
        f"`next_tool_name` with JSON `next_tool_args`. Tools:\n{tool_list}\n"
        f"({len(names)}) {FINISH}(): you have what you need to produce "
        f"{', '.join(f'`{f[0]}`' for f in outputs)}."
    )
    step_inputs = tuple(Field(*f) for f in inputs) + (Field("trajectory", "str"),)
    step_outputs = (
        Field("next_thought", "str"),
        Field("next_tool_name", "Literal[" + ", ".join(repr(n) for n in names) + "]"),
        Field("next_tool_args", "dict[str, Any]"),
    )
    return text, step_inputs, step_outputs
