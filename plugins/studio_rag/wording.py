"""Counts in words: ``1 chunk``, ``2 chunks`` (the plugin said "1 chunks")."""

from __future__ import annotations


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``n`` and the noun, singular for exactly one: ``plural(1, "chunk") == "1 chunk"``."""
    return f"{n} {singular if n == 1 else plural_form or singular + 's'}"
