"""Signatures (inline and class form, every field type) and the two reply formats,
including messy replies (property-based)."""

from __future__ import annotations

import enum
import json
from typing import Literal

import pydantic
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from studio_prompts import InputField, OutputField, Signature, SignatureError, as_signature
from studio_prompts.portable.fieldtypes import FieldTypeError, coerce, parse_type, type_name
from studio_prompts.portable.formats import Field, assistant_message, build_messages, parse_reply, split_reply


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Person(pydantic.BaseModel):
    name: str
    age: int


def test_inline_signature_with_nested_types():
    sig = as_signature(
        "question, context: list[str], scores: dict[str, float] -> answer: str, "
        "confidence: float, label: Literal['yes', 'no']"
    )
    assert sig.input_names == ["question", "context", "scores"]
    assert sig.output_names == ["answer", "confidence", "label"]
    assert parse_type(sig.outputs[2].type) == Literal["yes", "no"]
    assert str(sig).startswith("question, context: list[str], scores: dict[str, float] -> answer")
    assert as_signature(str(sig)) == sig  # the string form round-trips


def test_class_signature_docstring_descriptions_and_custom_types():
    class Extract(Signature):
        """Find the person and the colour in the text."""

        text: str = InputField(desc="a sentence")
        person: Person = OutputField(desc="who")
        color: Color = OutputField()
        tags: list[str] = OutputField()

    spec = Extract.spec
    assert spec.instructions == "Find the person and the colour in the text."
    assert spec.inputs[0].desc == "a sentence"
    assert parse_type(spec.outputs[0].type) is Person and parse_type(spec.outputs[1].type) is Color
    assert coerce(Person, '```json\n{"name": "Ada", "age": "36"}\n```') == Person(name="Ada", age=36)
    assert coerce(Color, " Green ") is Color.GREEN
    again = type(spec).from_dict(spec.to_dict(), name="Extract")
    assert again == spec  # descriptions and types survive the workflow-file form


@pytest.mark.parametrize(
    "bad",
    ["question -> ", "a -> b -> c", "a: lisst[str] -> b", "a -> a", "a: __import__('os').system('x') -> b", "a-b -> c"],
)
def test_bad_signatures_are_refused_with_a_reason(bad):
    with pytest.raises((SignatureError, FieldTypeError)):
        as_signature(bad)


def test_type_names_round_trip():
    for text in ["str", "list[str]", "dict[str, float]", "Literal['a', 'b']", "int | None", "list[dict[str, int]]"]:
        assert type_name(parse_type(text)) == text


@pytest.mark.parametrize(
    "annotation,raw,expected",
    [
        (int, " 42 ", 42),
        (int, "1,024", 1024),
        (float, "0.75.", 0.75),
        (bool, "true", True),
        (bool, "No", False),
        (list[str], "['a', 'b']", ["a", "b"]),
        (list[int], "```\n[1, 2]\n```", [1, 2]),
        (Literal["yes", "no"], "'YES'", "yes"),
        (dict[str, int], '{"a": 1}', {"a": 1}),
    ],
)
def test_coercion_is_forgiving(annotation, raw, expected):
    assert coerce(annotation, raw) == expected


def test_coercion_failure_says_what_was_expected():
    with pytest.raises(ValueError, match="expected int"):
        coerce(int, "many")


OUT = [Field("answer"), Field("confidence", "float"), Field("tags", "list[str]")]


@pytest.mark.parametrize(
    "reply",
    [
        (
            "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n"
            '[[ ## tags ## ]]\n["geo"]\n\n[[ ## completed ## ]]'
        ),
        (
            'Sure! Here you go. [[ ## answer ## ]] Paris [[ ## confidence ## ]] 0.9 [[ ## tags ## ]] ["geo"] '
            "[[ ## completed ## ]]"
        ),
        "```\n[[ ## answer ## ]]\nParis\n[[ ## confidence ## ]]\n0.9\n[[ ## tags ## ]]\n['geo']\n```",
        'Thinking... ```json\n{"answer": "Paris", "confidence": 0.9, "tags": ["geo"]}\n``` hope that helps',
        '**Answer:** Paris\nConfidence: 0.9\nTags: ["geo"]',
    ],
)
def test_messy_replies_parse_in_chat_format(reply):
    values, problems = parse_reply("chat", OUT, reply)
    assert problems == {} and values == {"answer": "Paris", "confidence": 0.9, "tags": ["geo"]}


def test_missing_and_mistyped_fields_are_reported():
    values, problems = parse_reply("chat", OUT, "[[ ## answer ## ]] Paris [[ ## confidence ## ]] very")
    assert values == {"answer": "Paris"}
    assert problems["tags"] == "missing" and "expected float" in problems["confidence"]


def test_bare_reply_fills_a_single_text_field_only():
    assert split_reply("chat", [Field("answer")], "Paris.") == {"answer": "Paris."}
    assert split_reply("chat", OUT, "Paris.") == {}


def test_json_format_messages_and_parse():
    messages = build_messages(
        "json",
        "Answer.",
        [Field("question")],
        OUT,
        [{"question": "q0", "answer": "a0", "confidence": 1.0, "tags": []}],
        {"question": "q1"},
    )
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert json.loads(messages[2]["content"]) == {"answer": "a0", "confidence": 1.0, "tags": []}
    assert "JSON object" in messages[-1]["content"]
    values, problems = parse_reply("json", OUT, 'Result: {"Answer": "x", "confidence": "0.5", "tags": "[\\"t\\"]"}')
    assert problems == {} and values == {"answer": "x", "confidence": 0.5, "tags": ["t"]}


text_values = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="[]`{}"), min_size=1, max_size=40
).filter(lambda s: s.strip() == s and s.strip())


@hsettings(max_examples=150, deadline=None)
@given(
    answer=text_values,
    confidence=st.floats(-1e6, 1e6, allow_nan=False),
    tags=st.lists(text_values, max_size=4),
    fmt=st.sampled_from(["chat", "json"]),
    prose=st.sampled_from(["", "Here is my answer.\n", "OK!\n\n"]),
    fence=st.booleans(),
)
def test_written_replies_parse_back_exactly(answer, confidence, tags, fmt, prose, fence):
    """Whatever the values, a reply written in a format (as demos are) parses back to them,
    also with prose before it and inside a code fence."""
    values = {"answer": answer, "confidence": confidence, "tags": tags}
    reply = assistant_message(fmt, OUT, values)
    if fence:
        reply = f"```\n{reply}\n```"
    parsed, problems = parse_reply(fmt, OUT, prose + reply)
    assert problems == {} and parsed == values
