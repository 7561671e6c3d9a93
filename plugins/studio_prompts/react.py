"""ReAct: think, call a tool, observe — until the model says ``finish`` or the step limit.

Tools are plain Python functions (sync or async); the model sees each one's name,
docstring and parameters. A tool that raises does not end the run: the error becomes the
observation, as a person would read it. When the loop ends, a ChainOfThought over the
original signature plus the trajectory writes the final outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .data import Prediction
from .module import StepModule, Steps, SubCall, ToolCall
from .portable.formats import Field
from .portable.tools import FINISH, describe_tool, react_step, tool_table
from .predict import ChainOfThought, Predict
from .signature import SignatureSpec, as_signature

__all__ = ["ReAct", "FINISH", "describe_tool"]


class ReAct(StepModule):
    span_kind = "predictor"

    def __init__(self, signature: Any, tools: list[Callable[..., Any]], *, max_steps: int = 5, **config: Any):
        base = as_signature(signature)
        self.signature = base
        self.tools = tool_table(tools)
        self.max_steps = max_steps
        instructions, step_inputs, step_outputs = react_step(base.instructions, base.inputs, base.outputs, self.tools)
        step_sig = SignatureSpec(step_inputs, step_outputs, instructions, f"{base.name}Step")
        self.react = Predict(step_sig, name=f"{base.name}.react", **config)
        self.extract = ChainOfThought(
            base.append_input(Field("trajectory", "str")), name=f"{base.name}.extract", **config
        )

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
