"""ReAct: think, call a tool, observe — until the model says ``finish`` or the step limit.

Tools are plain Python functions (sync or async); the model sees each one's name,
docstring and parameters. A tool that raises does not end the run: the error becomes the
observation, as a person would read it. When the loop ends, a ChainOfThought over the
original signature plus the trajectory writes the final outputs.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .data import Prediction
from .module import StepModule, Steps, SubCall, ToolCall
from .portable.formats import Field
from .predict import ChainOfThought, Predict
from .signature import SignatureSpec, as_signature

FINISH = "finish"


def describe_tool(fn: Callable[..., Any]) -> str:
    params = ", ".join(f"{p.name}" + (f": {getattr(p.annotation, '__name__', p.annotation)}"
                                      if p.annotation is not inspect.Parameter.empty else "")
                       for p in inspect.signature(fn).parameters.values())
    doc = " ".join((inspect.getdoc(fn) or "").split())
    return f"{fn.__name__}({params})" + (f": {doc}" if doc else "")


class ReAct(StepModule):
    span_kind = "predictor"

    def __init__(self, signature: Any, tools: list[Callable[..., Any]], *, max_steps: int = 5, **config: Any):
        base = as_signature(signature)
        self.signature = base
        self.tools = {fn.__name__: fn for fn in tools}
        self.max_steps = max_steps
        names = list(self.tools) + [FINISH]
        tool_list = "\n".join(f"({i}) {describe_tool(fn)}" for i, fn in enumerate(self.tools.values(), 1))
        instructions = (f"{base.instructions}\n\nYou will be given {', '.join(f'`{n}`' for n in base.input_names)} "
                        f"and your past trajectory. Reason about the next step, then call one tool by "
                        f"`next_tool_name` with JSON `next_tool_args`. Tools:\n{tool_list}\n"
                        f"({len(names)}) {FINISH}(): you have what you need to produce "
                        f"{', '.join(f'`{n}`' for n in base.output_names)}.")
        step_sig = SignatureSpec(base.inputs + (Field("trajectory", "str"),),
                                 (Field("next_thought", "str"),
                                  Field("next_tool_name", "Literal[" + ", ".join(repr(n) for n in names) + "]"),
                                  Field("next_tool_args", "dict[str, Any]")), instructions, f"{base.name}Step")
        self.react = Predict(step_sig, name=f"{base.name}.react", **config)
        self.extract = ChainOfThought(base.append_input(Field("trajectory", "str")), name=f"{base.name}.extract",
                                      **config)

    def span_name(self) -> str:
        return f"ReAct({self.signature})"

    def steps(self, **inputs: Any) -> Steps:
        trajectory: list[str] = []
        for step in range(self.max_steps):
            decision = yield SubCall(self.react, {**inputs, "trajectory": "\n".join(trajectory)})
            name, args = decision["next_tool_name"], decision["next_tool_args"] or {}
            trajectory.append(f"[thought {step}] {decision['next_thought']}")
            if name == FINISH:
                break
            trajectory.append(f"[tool {step}] {name}({args})")
            try:
                observation = yield ToolCall(self.tools[name], args, name)
            except Exception as exc:
                observation = f"error: {type(exc).__name__}: {exc}"
            trajectory.append(f"[observation {step}] {observation}")
        result = yield SubCall(self.extract, {**inputs, "trajectory": "\n".join(trajectory)})
        return Prediction({**result, "trajectory": trajectory})
