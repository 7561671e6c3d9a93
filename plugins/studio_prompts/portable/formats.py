"""Turning a signature, demos and inputs into chat messages, and the reply back into fields.

Two formats:

* ``chat`` — field markers. Every field is a block that starts ``[[ ## name ## ]]``; the
  reply ends with ``[[ ## completed ## ]]``. Robust with small and local models.
* ``json`` — the reply is one JSON object (with the provider's structured output where
  it has one: ``json_response_format``).

Parsing is forgiving: markers may sit inline, prose may surround the fields, values may be
wrapped in code fences, ``answer: …`` lines and JSON objects are understood in either
format. What is still missing or does not fit its type is reported, so the caller can ask
once more (``repair_message``) or fail with the raw reply.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, NamedTuple

from .fieldtypes import AST_LOCK, coerce, format_hint, is_text, json_schema, parse_type, strip_fences, to_text


class Field(NamedTuple):
    name: str
    type: str = "str"
    desc: str = ""


MARKER = re.compile(r"\[\[\s*##\s*(\w+)\s*##\s*\]\]")
COMPLETED = "[[ ## completed ## ]]"


def marker(name: str) -> str:
    return f"[[ ## {name} ## ]]"


def _field_list(fields: list[Field]) -> str:
    lines = []
    for i, f in enumerate(fields, 1):
        lines.append(f"{i}. `{f.name}` ({f.type})" + (f": {f.desc}" if f.desc else ""))
    return "\n".join(lines)


def system_message(fmt: str, instructions: str, inputs: list[Field], outputs: list[Field]) -> str:
    parts = [
        f"Your input fields are:\n{_field_list(inputs)}",
        f"Your output fields are:\n{_field_list(outputs)}",
        "All interactions will be structured in the following way, with the appropriate values filled in.",
    ]
    layout = [f"{marker(f.name)}\n{{{f.name}}}" for f in inputs]
    if fmt == "json":
        layout.append(
            "Outputs will be a JSON object with the following fields.\n{\n"
            + ",\n".join(f'  "{f.name}": "{{{f.name}}}"' + _hint_comment(f) for f in outputs)
            + "\n}"
        )
    else:
        layout += [f"{marker(f.name)}\n{{{f.name}}}" + _hint_comment(f) for f in outputs]
        layout.append(COMPLETED)
    parts.append("\n\n".join(layout))
    parts.append(f"In adhering to this structure, your objective is: \n        {instructions}")
    return "\n\n".join(parts)


def _hint_comment(field: Field) -> str:
    hint = format_hint(parse_type(field.type))
    return f"        # note: the value you produce {hint}" if hint else ""


def user_message(
    fmt: str, inputs: list[Field], outputs: list[Field], values: dict[str, Any], *, with_instructions: bool = True
) -> str:
    blocks = [f"{marker(f.name)}\n{to_text(values[f.name])}" for f in inputs if f.name in values]
    if with_instructions:
        blocks.append(response_instructions(fmt, outputs))
    return "\n\n".join(blocks)


def response_instructions(fmt: str, outputs: list[Field]) -> str:
    if fmt == "json":
        return (
            "Respond with a JSON object in the following order of fields: "
            + ", then ".join(f"`{f.name}`" + _hint_paren(f) for f in outputs)
            + "."
        )
    return (
        "Respond with the corresponding output fields, starting with the field "
        + ", then ".join(f"`{marker(f.name)}`" + _hint_paren(f) for f in outputs)
        + f", and then ending with the marker for `{COMPLETED}`."
    )


def _hint_paren(field: Field) -> str:
    hint = format_hint(parse_type(field.type))
    return f" ({hint})" if hint else ""


def assistant_message(fmt: str, outputs: list[Field], values: dict[str, Any]) -> str:
    """A demo's reply, written exactly as the model is asked to write one."""
    if fmt == "json":
        return json.dumps(
            {f.name: _jsonable(values[f.name]) for f in outputs if f.name in values}, ensure_ascii=False, indent=2
        )
    blocks = [f"{marker(f.name)}\n{to_text(values[f.name])}" for f in outputs if f.name in values]
    return "\n\n".join(blocks + [COMPLETED])


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(to_text(value)) if not isinstance(value, str) else value


def prefix_messages(
    fmt: str, instructions: str, inputs: list[Field], outputs: list[Field], demos: list[dict[str, Any]]
) -> list[dict]:
    """The system message and the demos (as user/assistant turns): all but the last message."""
    messages = [{"role": "system", "content": system_message(fmt, instructions, inputs, outputs)}]
    for demo in demos:
        messages.append({"role": "user", "content": user_message(fmt, inputs, outputs, demo, with_instructions=False)})
        messages.append({"role": "assistant", "content": assistant_message(fmt, outputs, demo)})
    return messages


def build_messages(
    fmt: str,
    instructions: str,
    inputs: list[Field],
    outputs: list[Field],
    demos: list[dict[str, Any]],
    values: dict[str, Any],
) -> list[dict]:
    """The whole conversation sent for one call."""
    return [
        *prefix_messages(fmt, instructions, inputs, outputs, demos),
        {"role": "user", "content": user_message(fmt, inputs, outputs, values)},
    ]


def json_response_format(name: str, outputs: list[Field]) -> dict:
    """An OpenAI-style ``response_format`` asking for exactly these fields (structured output)."""
    properties = {f.name: json_schema(parse_type(f.type)) for f in outputs}
    return {
        "type": "json_schema",
        "json_schema": {
            "name": re.sub(r"\W", "_", name) or "outputs",
            "strict": False,
            "schema": {"type": "object", "properties": properties, "required": [f.name for f in outputs]},
        },
    }


# --------------------------------------------------------------------------- parsing


def split_reply(fmt: str, outputs: list[Field], text: str) -> dict[str, Any]:
    """The raw value of every output field found in a reply, in either format."""
    names = {f.name.lower(): f.name for f in outputs}
    text = _strip_fences(text)  # a whole reply inside one code fence
    found = _from_markers(text, names) if fmt != "json" else {}
    if len(found) < len(outputs):
        for key, value in _from_json(text, names).items():
            found.setdefault(key, value)
    if len(found) < len(outputs):
        for key, value in _from_labels(text, names).items():
            found.setdefault(key, value)
    if not found and len(outputs) == 1 and is_text(parse_type(outputs[0].type)) and text.strip():
        found[outputs[0].name] = _strip_fences(text)  # a bare answer to a one-field signature
    return found


def _from_markers(text: str, names: dict[str, str]) -> dict[str, str]:
    hits = list(MARKER.finditer(text))
    found: dict[str, str] = {}
    for i, hit in enumerate(hits):
        name = names.get(hit.group(1).lower())
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        if name and name not in found:
            found[name] = _strip_fences(text[hit.end() : end])
    return found


def _from_json(text: str, names: dict[str, str]) -> dict[str, Any]:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return {}
    blob = text[start : end + 1]
    try:
        data = json.loads(blob)
    except ValueError:
        try:
            with AST_LOCK:  # see fieldtypes.AST_LOCK
                data = ast.literal_eval(blob)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return {}
    if not isinstance(data, dict):
        return {}
    return {names[k.lower()]: v for k, v in data.items() if isinstance(k, str) and k.lower() in names}


def _from_labels(text: str, names: dict[str, str]) -> dict[str, str]:
    """``Answer: Paris`` / ``**answer**: Paris`` lines; a value runs to the next label."""
    pattern = re.compile(
        r"^[ \t>*_#-]*(" + "|".join(re.escape(n) for n in names) + r")[*_ \t]*:[*_ \t]*", re.IGNORECASE | re.MULTILINE
    )
    hits = list(pattern.finditer(text))
    found: dict[str, str] = {}
    for i, hit in enumerate(hits):
        name = names[hit.group(1).lower()]
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        if name not in found:
            found[name] = _strip_fences(text[hit.end() : end])
    return found


def _strip_fences(value: str) -> str:
    value = value.strip()
    if value.endswith(COMPLETED):
        value = value[: -len(COMPLETED)].rstrip()
    if value.endswith("```") and value.count("```") % 2 == 1:  # the end of a fence that wrapped the fields
        value = value[:-3].rstrip()
    return strip_fences(value)


def parse_reply(fmt: str, outputs: list[Field], text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``(values, problems)``: typed values of the fields that parsed, and for each field
    that is missing or does not fit its type, the reason."""
    raw = split_reply(fmt, outputs, text)
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for f in outputs:
        if f.name not in raw:
            problems[f.name] = "missing"
            continue
        try:
            values[f.name] = coerce(parse_type(f.type), raw[f.name])
        except ValueError as exc:
            problems[f.name] = str(exc)
    return values, problems


def repair_message(fmt: str, outputs: list[Field], problems: dict[str, str]) -> str:
    listed = "; ".join(f"`{name}`: {why}" for name, why in problems.items())
    return (
        f"Your reply could not be read completely ({listed}). Reply again with every output field. "
        + response_instructions(fmt, outputs)
    )
