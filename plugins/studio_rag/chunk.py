"""Sections → chunks sized in the embedder's own tokens.

Paragraphs (blank-line separated) are packed whole into a chunk while they fit in
``size`` tokens; a chunk never crosses a heading (sections are chunked apart). A
paragraph longer than ``size`` is cut at token boundaries into windows that overlap by
``overlap`` tokens; between packed chunks the last paragraphs (up to ``overlap`` tokens)
are repeated, so an answer that straddles a boundary is whole in one of them.
Every chunk keeps its heading, page and character span in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .embedder import TokenCounter
from .parse import Section


@dataclass
class Chunk:
    text: str
    start: int  # character span in the file's text (the page's, for a PDF)
    end: int
    heading: str = ""
    page: int | None = None
    tokens: int = 0
    line: int = 1


@dataclass
class _Piece:
    start: int
    end: int
    tokens: int


def chunk_sections(sections: list[Section], counter: TokenCounter, size: int = 200,
                   overlap: int = 30) -> list[Chunk]:
    if size < 8:
        raise ValueError("chunk size must be at least 8 tokens")
    overlap = max(0, min(overlap, size // 2))
    chunks: list[Chunk] = []
    for section in sections:
        text = section.text
        paragraphs = _paragraphs(text)
        spans = counter.spans([text[a:b] for a, b in paragraphs]) if paragraphs else []
        pieces: list[_Piece] = []
        for (a, b), tokens in zip(paragraphs, spans):
            if len(tokens) <= size:
                pieces.append(_Piece(a, b, len(tokens)))
                continue
            for chunk_tokens in _windows(tokens, size, overlap, text[a:b]):  # one long paragraph
                pieces.append(_Piece(a + chunk_tokens[0][0], a + chunk_tokens[-1][1], len(chunk_tokens)))
        groups = _pack(pieces, size, overlap)
        if len(groups) > 1 and len(groups[0]) == 1 and _is_heading_line(text, groups[0][0]):
            groups = groups[1:]  # a lone heading line: every chunk of the section carries it already
        for group in groups:
            start, end = group[0].start, group[-1].end
            chunks.append(Chunk(text[start:end], section.offset + start, section.offset + end, section.heading,
                                section.page, sum(p.tokens for p in group), section.line + text.count("\n", 0, start)))
    return chunks


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of the text between blank lines, without their surrounding whitespace."""
    spans = []
    for m in re.finditer(r"(?:.|\n(?![ \t]*\n))+", text):
        segment = m.group()
        start = m.start() + len(segment) - len(segment.lstrip())
        end = m.end() - len(segment) + len(segment.rstrip())
        if end > start:
            spans.append((start, end))
    return spans


def _windows(tokens: list[tuple[int, int]], size: int, overlap: int, text: str) -> list[list[tuple[int, int]]]:
    """Windows of at most ``size`` tokens, ``overlap`` shared, cut between words where a
    word boundary lies within a few tokens (never inside a word split into pieces)."""
    word_start = [start == 0 or text[start - 1].isspace() for start, _ in tokens]
    slack = max(1, size // 8)
    windows, begin = [], 0
    while True:
        end = min(begin + size, len(tokens))
        if end < len(tokens):
            for cut in range(end, max(begin + 1, end - slack), -1):
                if word_start[cut]:
                    end = cut
                    break
        windows.append(tokens[begin:end])
        if end >= len(tokens):
            return windows
        nxt = max(begin + 1, end - overlap)
        for candidate in range(nxt, min(end, nxt + slack)):
            if word_start[candidate]:
                nxt = candidate
                break
        begin = nxt


def _is_heading_line(text: str, piece: _Piece) -> bool:
    line = text[piece.start:piece.end]
    return "\n" not in line.strip() and (line.startswith("#") or piece.tokens <= 12)


def _pack(pieces: list[_Piece], size: int, overlap: int) -> list[list[_Piece]]:
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    for piece in pieces:
        if current and sum(p.tokens for p in current) + piece.tokens > size:
            groups.append(current)
            carried: list[_Piece] = []
            for previous in reversed(current):  # repeat the tail of the last chunk, whole paragraphs only
                kept = sum(p.tokens for p in carried) + previous.tokens
                if kept > overlap or kept + piece.tokens > size:
                    break
                carried.insert(0, previous)
            current = carried
        current.append(piece)
    if current:
        groups.append(current)
    return groups
