"""Field types as readable strings, and turning model text into typed values.

A type is written the way it is in Python: ``str``, ``int``, ``float``, ``bool``,
``list[str]``, ``dict[str, float]``, ``Literal['yes', 'no']``, ``str | None``, or a dotted
reference to an importable class (an ``Enum`` or a pydantic model), ``mypkg.models.Person``.
Strings are parsed with ``ast`` and never evaluated, so a workflow file cannot run code
through a type. Values are validated by pydantic (lax: ``"3"`` is a fine ``int``).
"""

from __future__ import annotations

import ast
import enum
import importlib
import json
import re
import threading
import typing
from functools import lru_cache
from typing import Any, Literal

import pydantic

BUILTIN_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "Any": Any,
    "None": type(None),
    "Literal": Literal,
}


#: Classes named in signatures declared in Python (enums, pydantic models), by dotted name,
#: so they resolve even when defined where an import cannot reach them (a test, a notebook).
REGISTERED_TYPES: dict[str, Any] = {}


class FieldTypeError(ValueError):
    """A type string that is not a known type."""


@lru_cache(maxsize=512)
def parse_type(text: str) -> Any:
    """``"list[str]"`` → ``list[str]``. Raises FieldTypeError with the offending part.
    A dotted name (``mypkg.models.Person``) is imported: call it when the type is used."""
    return _build(_tree(text), text)


@lru_cache(maxsize=512)
def check_type(text: str) -> None:
    """Raise FieldTypeError as ``parse_type`` would, but import nothing: a dotted name is
    only checked as a name. Reading a signature from a file uses this, so a workflow names
    a module without that module's code running (it is imported when the type is used)."""
    _build(_tree(text), text, load=False)


def dotted_names(text: str) -> list[str]:
    """The dotted names (classes to import) a type string mentions, imported or not."""
    try:
        tree = _tree(text)
    except FieldTypeError:
        return []
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner and ast.unparse(node) not in found:
            found.append(ast.unparse(node))
    return found


# CPython 3.11's ast.parse is not thread-safe ("AST constructor recursion depth
# mismatch", gh-106905): model calls parse signatures and replies from worker threads.
AST_LOCK = threading.Lock()


def parse_expression(text: str) -> ast.Expression:
    with AST_LOCK:
        return ast.parse(text, mode="eval")


class _Unloaded:
    """Stands for a dotted type that ``check_type`` does not import."""


def _tree(text: str) -> ast.AST:
    try:
        return parse_expression(text.strip() or "str").body
    except SyntaxError:
        raise FieldTypeError(f"not a type: {text!r}") from None


def _build(node: ast.AST, text: str, load: bool = True) -> Any:
    if isinstance(node, ast.Name):
        if node.id in BUILTIN_TYPES:
            return BUILTIN_TYPES[node.id]
        raise FieldTypeError(
            f"unknown type {node.id!r} in {text!r} (use str, int, float, bool, list[…], "
            f"dict[…], Literal[…] or a dotted path such as mypkg.models.Person)"
        )
    if isinstance(node, ast.Attribute):
        if not load:
            if not isinstance(node.value, (ast.Name, ast.Attribute)):
                raise FieldTypeError(f"not a type: {text!r}")
            if isinstance(node.value, ast.Attribute):
                _build(node.value, text, load)
            return _Unloaded
        return _import_dotted(ast.unparse(node), text)
    if isinstance(node, ast.Constant) and node.value is None:
        return type(None)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        # not `a | b`: an imported name may be any object (a function, an enum flag), whose
        # own `|` would raise TypeError or make something else; typing.Union calls no code of theirs
        return typing.Union[_build(node.left, text, load), _build(node.right, text, load)]  # noqa: UP007
    if isinstance(node, ast.Subscript):
        base = _build(node.value, text, load)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base is Literal:
            values = []
            for arg in args:
                if not isinstance(arg, ast.Constant):
                    raise FieldTypeError(f"Literal takes constants, got {ast.unparse(arg)!r} in {text!r}")
                values.append(arg.value)
            return Literal[tuple(values)]
        if base not in (list, dict, tuple):
            raise FieldTypeError(f"{ast.unparse(node.value)} takes no parameters in {text!r}")
        built = tuple(_build(a, text, load) for a in args)
        return base[built if len(built) > 1 else built[0]]
    raise FieldTypeError(f"not a type: {text!r}")


def _import_dotted(path: str, text: str) -> Any:
    if path in REGISTERED_TYPES:
        return REGISTERED_TYPES[path]
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        raise FieldTypeError(f"cannot import {path!r} (in type {text!r})") from None


def register_type(annotation: Any) -> str:
    """Name a Python type as a string, remembering any class it mentions."""
    for arg in typing.get_args(annotation):
        if not isinstance(arg, (str, int, float, bool)) and arg is not None:
            register_type(arg)
    name = type_name(annotation)
    if isinstance(annotation, type) and getattr(annotation, "__module__", "builtins") != "builtins":
        REGISTERED_TYPES[name] = annotation
        parse_type.cache_clear()
        check_type.cache_clear()
    return name


def type_name(annotation: Any) -> str:
    """The inverse of ``parse_type``: ``list[str]`` → ``"list[str]"``."""
    if isinstance(annotation, str):
        return annotation
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "Literal[" + ", ".join(repr(v) for v in typing.get_args(annotation)) + "]"
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return " | ".join(type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        return f"{origin.__name__}[" + ", ".join(type_name(a) for a in typing.get_args(annotation)) + "]"
    if annotation is Any:
        return "Any"
    if getattr(annotation, "__module__", "builtins") == "builtins":
        return annotation.__name__
    return f"{annotation.__module__}.{annotation.__qualname__}".replace(".<locals>", "")


@lru_cache(maxsize=512)
def _adapter(annotation: Any) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(annotation)


def is_text(annotation: Any) -> bool:
    return annotation is str or annotation is Any


def coerce(annotation: Any, raw: Any) -> Any:
    """Validate a value parsed from a reply (usually a string) against its field type.

    Strings for structured types (lists, dicts, models) are read as JSON, then as a
    Python literal; a Literal or Enum matches its options case-insensitively. Raises
    ValueError with a short reason.
    """
    if annotation is str:
        return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    if annotation is Any:
        return raw
    if isinstance(raw, str):
        raw = strip_fences(raw)
        origin = typing.get_origin(annotation)
        if origin is Literal:
            raw = _match_option(raw, typing.get_args(annotation))
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            raw = _match_option(raw, [m.value for m in annotation] + [m.name for m in annotation])
            if raw in annotation.__members__:
                return annotation[raw]
        elif annotation not in (int, float, bool):
            raw = _structured(raw)
        elif annotation in (int, float):
            number = re.fullmatch(r"\s*-?[\d,]+(\.\d*)?\.?\s*", raw)
            raw = raw.strip().rstrip(".").replace(",", "") if number else raw.strip()
    try:
        return _adapter(annotation).validate_python(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"expected {type_name(annotation)}: {first['msg']}") from None


FENCE = re.compile(r"```[\w+-]*\s*\n?(.*?)\n?```", re.DOTALL)


def strip_fences(text: str) -> str:
    text = text.strip()
    if not text.startswith("```"):
        return text
    match = FENCE.fullmatch(text)
    return match.group(1).strip() if match else text


def _match_option(raw: str, options: Any) -> Any:
    text = raw.strip().strip("'\"`").strip()
    for option in options:
        if str(option) == text:
            return option
    lowered = text.lower()
    for option in options:
        if str(option).lower() == lowered:
            return option
    return text


def _structured(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        with AST_LOCK:
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def format_hint(annotation: Any) -> str:
    """What a reply must look like for this type, said to the model."""
    if is_text(annotation):
        return ""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "must be exactly one of: " + "; ".join(str(v) for v in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "must be exactly one of: " + "; ".join(str(m.value) for m in annotation)
    if annotation is bool:
        return "must be True or False"
    if annotation in (int, float):
        return f"must be a single {annotation.__name__} value"
    return "must be valid JSON matching the schema: " + json.dumps(json_schema(annotation), separators=(",", ":"))


def json_schema(annotation: Any) -> dict:
    return _adapter(annotation).json_schema()


def to_text(value: Any) -> str:
    """A value as it is shown to the model: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)
