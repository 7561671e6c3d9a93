"""Predict and ChainOfThought: one signature, one model call (plus at most one repair).

``Predict("question -> answer")(question="…")`` builds the messages with the chat or JSON
format (``portable.formats``), calls the model, parses the reply into typed fields and
returns a :class:`Prediction`. A reply with a missing or ill-typed field gets one repair
call that says what was wrong; if that fails too, :class:`ParseError` shows the raw reply.
Spans: ``predictor`` → ``llm`` (messages, reply, tokens, cost, latency, cache hit; under it
a ``load`` span when the provider loaded the model first) and ``parse`` (fields found, problems).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from .data import Prediction
from .lm import LM
from .module import StepModule, Steps
from .portable.formats import Field, json_response_format, parse_reply, prefix_messages, repair_message, user_message
from .settings import settings
from .signature import SignatureSpec, as_signature
from .tokens import token_fields
from .trace import record_child, start_span

REASONING = Field("reasoning", "str", "Think step by step in order to produce the outputs.")


class ParseError(ValueError):
    """The model's reply could not be read into the signature's fields, even after a repair."""

    def __init__(self, predictor: str, problems: dict[str, str], reply: str):
        listed = "; ".join(f"{name}: {why}" for name, why in problems.items())
        super().__init__(f"{predictor}: could not read the reply ({listed}). Raw reply:\n{reply}")
        self.problems, self.reply = problems, reply


class LMCall:
    """One model call, traced as an ``llm`` span."""

    __slots__ = ("lm", "messages", "overrides", "name")

    def __init__(self, lm: LM, messages: list[dict[str, str]], overrides: dict[str, Any], name: str):
        self.lm, self.messages, self.overrides, self.name = lm, messages, overrides, name

    def _start(self):
        return start_span(
            settings().tracer,
            "llm",
            self.name,
            leaf=True,
            model=self.lm.model,
            params={**self.lm.params, **self.overrides},
            messages=self.messages,
        )

    def _tokens(self, span, completion) -> dict[str, Any]:
        """The span's ``token_record`` (saved under the job's run folder) or ``token_note``."""
        tokens_dir = settings().tokens_dir
        if tokens_dir is None or span.id is None:
            return {}
        params = {**self.lm.params, **self.overrides}
        return token_fields(
            span.id, completion, self.messages, params, tokens_dir, self.lm.records_tokens, model=self.lm.model
        )

    @staticmethod
    def _end(span, completion, tokens: dict[str, Any]) -> None:
        if not completion.cache_hit:
            span.add_usage(completion.prompt_tokens + completion.completion_tokens, completion.cost)
        load = completion.load
        timing = {}
        if load is not None:  # the provider loaded the model first: its own span, and the generation's time apart
            record_child(span, "load", load["name"], load["start"], load["seconds"], model=completion.model)
            timing = {"load_time": load["seconds"], "generation_time": max(0.0, completion.latency - load["seconds"])}
        span.end(
            None,
            reply=completion.text,
            tokens={"prompt": completion.prompt_tokens, "completion": completion.completion_tokens},
            cost=completion.cost,
            latency=completion.latency,
            cache_hit=completion.cache_hit,
            attempts=completion.attempts,
            finish_reason=completion.finish_reason,
            status="cached" if completion.cache_hit else "ok",
            **timing,
            **tokens,
            **({"intervention": completion.intervention} if completion.intervention else {}),
        )

    def run_sync(self):
        span = self._start()
        try:
            completion = self.lm.call(self.messages, **self.overrides)
        except BaseException as exc:
            span.end(error=exc)
            raise
        self._end(span, completion, self._tokens(span, completion))
        return completion

    async def run_async(self):
        span = self._start()
        try:
            completion = await self.lm.acall(self.messages, **self.overrides)
        except BaseException as exc:
            span.end(error=exc)
            raise
        tokens = {}
        if settings().tokens_dir is not None:  # two small files, fsync'd: off the event loop
            tokens = await asyncio.to_thread(self._tokens, span, completion)
        self._end(span, completion, tokens)
        return completion


class Predict(StepModule):
    span_kind = "predictor"

    def __init__(
        self,
        signature: Any,
        *,
        instructions: str = "",
        demos: list[dict[str, Any]] | None = None,
        lm: LM | None = None,
        format: str | None = None,
        structured: bool | None = None,
        name: str = "",
        **config: Any,
    ):
        self.signature: SignatureSpec = as_signature(signature, instructions)
        self.demos: list[dict[str, Any]] = list(demos or [])
        self.lm = lm
        self.format = format  # None: the settings' format
        self.structured = structured  # json format: hold the reply to a schema (None: where the provider can)
        self.config = config  # sampling parameters for this predictor (temperature, max_tokens…)
        self.name = name
        self._prefix_key: tuple | None = None
        self._prefix: list[dict[str, str]] = []
        self._name_for: tuple[SignatureSpec | None, str] = (None, "")

    def span_name(self) -> str:
        if self.name:
            return self.name
        if self._name_for[0] is not self.signature:  # computed once per signature: this is the hot path
            self._name_for = (self.signature, f"{type(self).__name__}({self.signature})")
        return self._name_for[1]

    @property
    def instructions(self) -> str:
        return self.signature.instructions

    @instructions.setter
    def instructions(self, text: str) -> None:
        self.signature = self.signature.with_instructions(text)

    def reset(self) -> None:
        self.demos = []

    @property
    def declared_signature(self) -> SignatureSpec:
        """The signature as written in a workflow file (without fields a predictor adds)."""
        return self.signature

    # ---- messages

    def messages(self, inputs: dict[str, Any], fmt: str | None = None) -> list[dict[str, str]]:
        """The messages this predictor sends for ``inputs`` (the system message and the
        demos are built once and reused until the signature or the demos change)."""
        fmt = fmt or self.format or settings().format
        sig = self.signature
        key = (fmt, id(sig), len(self.demos), id(self.demos[-1]) if self.demos else None)
        if key != self._prefix_key:
            demos = [dict(d) for d in self.demos]
            self._prefix = prefix_messages(fmt, sig.instructions, list(sig.inputs), list(sig.outputs), demos)
            self._prefix_key = key
        content = user_message(fmt, list(sig.inputs), list(sig.outputs), inputs)
        feedback = settings().feedback
        if feedback:
            content = f"{feedback}\n\n{content}"
        return [*self._prefix, {"role": "user", "content": content}]

    # ---- the algorithm

    def steps(self, **inputs: Any) -> Steps:
        current = settings()
        sig = self.signature
        missing = [name for name in sig.input_names if name not in inputs]
        if missing:
            raise ValueError(
                f"{self.span_name()}: missing input {missing[0]!r} (inputs are {', '.join(sig.input_names)})"
            )
        lm = self.lm or current.lm
        if lm is None:
            raise ValueError(f"{self.span_name()}: no model set; pass lm= or configure(lm=LM('provider/model'))")
        fmt = self.format or current.format
        overrides = dict(self.config)
        if fmt == "json" and (self.structured if self.structured is not None else lm.supports_structured_output()):
            overrides["response_format"] = json_response_format(sig.name, list(sig.outputs))
        if current.rollout is not None:
            overrides["cache_salt"] = current.rollout
        messages = self.messages(inputs, fmt)
        outputs = list(sig.outputs)
        attempt = 0
        while True:  # a first call, then up to max_repairs calls asking for what is missing
            attempt += 1
            completion = yield LMCall(lm, messages, overrides, self.span_name())
            span = start_span(current.tracer, "parse", fmt, leaf=True, format=fmt, attempt=attempt)
            values, problems = parse_reply(fmt, outputs, completion.text)
            span.end(values, status="error" if problems else "ok", problems=problems or None)
            if not problems:
                break
            if attempt > current.max_repairs:
                raise ParseError(self.span_name(), problems, completion.text)
            messages = [
                *messages,
                {"role": "assistant", "content": completion.text},
                {"role": "user", "content": repair_message(fmt, outputs, problems)},
            ]
        if current.recorder is not None:
            current.recorder.append((self, dict(inputs), values))
        return Prediction(values)


class ChainOfThought(Predict):
    """Predict with a ``reasoning`` output field first: the model thinks, then answers."""

    def __init__(self, signature: Any, **kwargs: Any):
        super().__init__(signature, **kwargs)
        self.added_reasoning = "reasoning" not in self.signature.output_names
        if self.added_reasoning:
            self.signature = self.signature.prepend_output(REASONING)

    @property
    def declared_signature(self) -> SignatureSpec:
        sig = self.signature
        return replace(sig, outputs=sig.outputs[1:]) if self.added_reasoning else sig
