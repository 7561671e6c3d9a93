"""Signatures: what a predictor takes and gives, with the instructions for the model.

Inline::

    "question, context: list[str] -> answer: str, confidence: float"

or as a class (the docstring is the instructions)::

    class Answer(Signature):
        \"\"\"Answer with a short fact.\"\"\"
        question: str = InputField(desc="a trivia question")
        answer: str = OutputField()

Both become a :class:`SignatureSpec` — an immutable value with the instructions and the
input and output fields (name, type as a string, description) — which is what predictors,
workflow files and the exporter use. Types are written as in Python (see
``portable.fieldtypes``).
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, replace
from typing import Any

from .portable.fieldtypes import FieldTypeError, check_type, register_type
from .portable.formats import Field

__all__ = [
    "Field",
    "SignatureSpec",
    "Signature",
    "InputField",
    "OutputField",
    "as_signature",
    "SignatureError",
    "write_signature",
]


class SignatureError(ValueError):
    """A signature that cannot be read: the message says which part."""


@dataclass(frozen=True)
class SignatureSpec:
    inputs: tuple[Field, ...]
    outputs: tuple[Field, ...]
    instructions: str = ""
    name: str = "Signature"

    def __post_init__(self):
        names = [f.name for f in self.inputs + self.outputs]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise SignatureError(f"field {duplicate!r} appears twice in {self}")
        if not self.outputs:
            raise SignatureError(f"a signature needs at least one output field: {self}")
        for f in self.inputs + self.outputs:
            if not f.name.isidentifier():
                raise SignatureError(f"field name {f.name!r} is not an identifier")
            try:
                check_type(f.type)  # imports nothing: a file's signature may name a module
            except FieldTypeError as exc:
                raise SignatureError(f"field {f.name!r}: {exc}") from None
        if not self.instructions:
            object.__setattr__(self, "instructions", default_instructions(self.inputs, self.outputs))

    # ---- views and edits (each returns a new signature)

    def __str__(self) -> str:
        return f"{_fields_text(self.inputs)} -> {_fields_text(self.outputs)}"

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [f.name for f in self.outputs]

    def with_instructions(self, instructions: str) -> SignatureSpec:
        return replace(self, instructions=instructions)

    def prepend_output(self, field: Field) -> SignatureSpec:
        return replace(self, outputs=(field,) + self.outputs)

    def append_input(self, field: Field) -> SignatureSpec:
        return replace(self, inputs=self.inputs + (field,))

    def to_dict(self) -> dict[str, Any]:
        """As written in workflow files: compact when no field has a description."""
        fields: dict[str, Any]
        if any(f.desc for f in self.inputs + self.outputs):
            fields = {"inputs": [f._asdict() for f in self.inputs], "outputs": [f._asdict() for f in self.outputs]}
        else:
            fields = {"signature": str(self)}
        return {**fields, "instructions": self.instructions}

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str = "Signature") -> SignatureSpec:
        if "signature" in data:
            spec = parse_signature(data["signature"], name=name)
        else:
            try:
                spec = cls(
                    tuple(Field(**f) for f in data.get("inputs", [])),
                    tuple(Field(**f) for f in data.get("outputs", [])),
                    name=name,
                )
            except TypeError as exc:
                raise SignatureError(f"bad field entry: {exc}") from None
        return spec.with_instructions(data["instructions"]) if data.get("instructions") else spec


def write_signature(params: dict[str, Any], spec: SignatureSpec, instructions: bool = True) -> None:
    """Put ``spec`` into a node's ``params`` as workflow files hold it (the one-line form, or
    the field lists when there are descriptions), dropping the form it replaces; keys keep
    their place, so a file's diff shows only what changed."""
    written = spec.to_dict()
    if not instructions:
        del written["instructions"]
    for key in {"signature", "inputs", "outputs"} - written.keys():
        params.pop(key, None)
    params.update(written)


def default_instructions(inputs: tuple[Field, ...], outputs: tuple[Field, ...]) -> str:
    given = ", ".join(f"`{f.name}`" for f in inputs) or "nothing"
    return f"Given the fields {given}, produce the fields {', '.join(f'`{f.name}`' for f in outputs)}."


def _fields_text(fields: tuple[Field, ...]) -> str:
    return ", ".join(f.name if f.type == "str" else f"{f.name}: {f.type}" for f in fields)


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets and quotes: ``a: dict[str, int], b`` → two parts."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_signature(text: str, instructions: str = "", name: str = "Signature") -> SignatureSpec:
    if text.count("->") != 1:
        raise SignatureError(f"a signature is 'inputs -> outputs' with one arrow, got {text!r}")
    left, right = text.split("->")

    def fields(part: str) -> tuple[Field, ...]:
        out = []
        for item in _split_top_level(part):
            field_name, colon, type_text = item.partition(":")
            out.append(Field(field_name.strip(), type_text.strip() if colon else "str"))
        return tuple(out)

    return SignatureSpec(fields(left), fields(right), instructions, name)


class _FieldMarker:
    def __init__(self, role: str, desc: str):
        self.role, self.desc = role, desc


def InputField(desc: str = "") -> Any:  # noqa: N802 - reads like a declaration, as in DSPy
    return _FieldMarker("input", desc)


def OutputField(desc: str = "") -> Any:  # noqa: N802
    return _FieldMarker("output", desc)


class Signature:
    """Base class for signatures declared as classes; ``Cls.spec`` is the SignatureSpec."""

    spec: typing.ClassVar[SignatureSpec]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        hints = typing.get_type_hints(cls, include_extras=False)
        inputs: list[Field] = []
        outputs: list[Field] = []
        for field_name in inspect.get_annotations(cls):  # its own fields, not its bases'
            marker = cls.__dict__.get(field_name)
            if not isinstance(marker, _FieldMarker):
                raise SignatureError(f"{cls.__name__}.{field_name}: give it a value of InputField() or OutputField()")
            field = Field(field_name, register_type(hints[field_name]), marker.desc)
            (inputs if marker.role == "input" else outputs).append(field)
        doc = (cls.__doc__ or "").strip()
        cls.spec = SignatureSpec(tuple(inputs), tuple(outputs), " ".join(doc.split()) if doc else "", cls.__name__)


def as_signature(value: object, instructions: str = "") -> SignatureSpec:
    """A signature string (``"question -> answer"``), a SignatureSpec or a Signature class as
    a SignatureSpec; anything else (a value from a file, a script) is a SignatureError."""
    if isinstance(value, SignatureSpec):
        spec = value
    elif isinstance(value, str):
        spec = parse_signature(value)
    elif isinstance(value, type) and issubclass(value, Signature):
        spec = value.spec
    else:
        raise SignatureError(f"expected a signature string, SignatureSpec or Signature class, got {value!r}")
    return spec.with_instructions(instructions) if instructions else spec
