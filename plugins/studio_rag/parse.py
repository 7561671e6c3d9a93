"""Files → sections of plain text, each with its heading, page and place in the file.

One function per format, all returning ``Section`` lists, so chunking never cares where
text came from. Text formats keep character offsets into the file's text (a result can be
opened at its line); HTML offsets are into the extracted text, PDF offsets into the page.
A file that cannot be read raises ``ParseError`` with the reason (binary, encrypted, too
large, not decodable): the indexer records it and goes on.
"""

from __future__ import annotations

import bisect
import logging
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

MAX_BYTES = 50_000_000
CODE_SUFFIXES = {
    ".py",
    ".pyi",
    ".js",
    ".ts",
    ".tsx",
    ".jsx",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".java",
    ".go",
    ".rs",
    ".rb",
    ".sh",
    ".kt",
    ".swift",
    ".cs",
    ".scala",
    ".lua",
    ".r",
    ".jl",
    ".toml",
    ".yaml",
    ".yml",
    ".json",
    ".ini",
    ".cfg",
    ".sql",
}
TEXT_SUFFIXES = {".txt", ".text", ".log", ".csv", ".tsv", ""}
SUFFIXES = {".md", ".markdown", ".rst", ".html", ".htm", ".pdf"} | CODE_SUFFIXES | TEXT_SUFFIXES


class ParseError(Exception):
    """A file that cannot be turned into text; the message says why."""


@dataclass
class Section:
    text: str
    heading: str = ""
    page: int | None = None  # 1-based, PDFs only
    offset: int = 0  # where ``text`` starts in the file's text (or the page's)
    line: int = 1  # the line ``offset`` is on


def parse_file(path: Path, max_bytes: int = MAX_BYTES) -> list[Section]:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ParseError(f"cannot be read ({exc.strerror or exc})") from None
    if size > max_bytes:
        raise ParseError(f"too large ({size / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB)")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return parse_pdf(path)
    text = read_text(path)
    if suffix in (".md", ".markdown"):
        return parse_markdown(text)
    if suffix == ".rst":
        return parse_rst(text)
    if suffix in (".html", ".htm"):
        return parse_html(text)
    if suffix in CODE_SUFFIXES:
        return parse_code(text)
    return [Section(text)] if text.strip() else []


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot be read ({exc.strerror or exc})") from None
    if b"\0" in data[:8192]:
        raise ParseError("binary content (not text)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # every byte decodes; reject what is clearly not text
        if sum(ch < " " and ch not in "\t\r\n\f" for ch in text[:8192]) > 0.05 * min(len(text), 8192):
            raise ParseError("not text in a known encoding") from None
        return text


def split_at(text: str, heads: list[tuple[int, str]]) -> list[Section]:
    """Sections from ``(offset, heading)`` starts; text before the first start has no heading."""
    starts = [(0, "")] + [h for h in heads if h[0] > 0] if not heads or heads[0][0] > 0 else heads
    sections, line, counted = [], 1, 0
    for (start, heading), (end, _) in zip(starts, starts[1:] + [(len(text), "")], strict=True):
        line, counted = line + text.count("\n", counted, start), start  # counted on from the last start
        body = text[start:end]
        if body.strip():
            sections.append(Section(body, heading, None, start, line))
    return sections


def parse_markdown(text: str) -> list[Section]:
    heads: list[tuple[int, str]] = []
    trail: list[str] = []
    fenced = False
    for m in re.finditer(r"^.*$", text, re.M):
        line = m.group()
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line) if not fenced else None
        if heading:
            level = len(heading.group(1))
            trail = trail[: level - 1] + [heading.group(2)]
            heads.append((m.start(), " › ".join(trail)))
    return split_at(text, heads)


def parse_rst(text: str) -> list[Section]:
    lines = text.splitlines(keepends=True)
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line)
    levels: list[str] = []
    heads: list[tuple[int, str]] = []
    trail: list[str] = []
    for i in range(len(lines) - 1):
        title, under = lines[i].rstrip(), lines[i + 1].rstrip()
        if title.strip() and re.fullmatch(r"([=\-~^\"'`#*+.:_])\1{2,}", under) and len(under) >= len(title.strip()):
            if under[0] not in levels:
                levels.append(under[0])
            level = levels.index(under[0])
            trail = trail[:level] + [title.strip()]
            heads.append((offsets[i], " › ".join(trail)))
    return split_at(text, heads)


def parse_code(text: str) -> list[Section]:
    """Split at top-level definitions, so a chunk tends to hold one function or class."""
    pattern = r"^(?:async\s+def|def|class|function|func|fn|pub\s+fn|struct|impl|interface|type)\s+([A-Za-z_]\w*)"
    heads = [(m.start(), m.group(0)) for m in re.finditer(pattern, text, re.M)]
    return split_at(text, heads)


class _HTMLText(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template"})
    BLOCK = frozenset(
        {"p", "div", "li", "tr", "br", "pre", "section", "article", "table", "ul", "ol", "dd", "dt", "blockquote"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0  # of the text so far, kept as it grows (summing the parts per heading is quadratic)
        self.heads: list[tuple[int, str]] = []
        self.skipping = 0
        self.heading: list[str] | None = None
        self.trail: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.add("\n\n")
            self.heading = []
            self.heads.append((self.length, ""))
        elif tag in self.BLOCK:
            self.add("\n\n" if tag in ("p", "div", "section", "article", "pre", "blockquote") else "\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self.heading is not None:
            title = " ".join("".join(self.heading).split())
            self.trail = self.trail[: int(tag[1]) - 1] + [title]
            self.heads[-1] = (self.heads[-1][0], " › ".join(self.trail))
            self.heading = None
            self.add("\n\n")

    def handle_data(self, data):
        if self.skipping:
            return
        if self.heading is not None:
            self.heading.append(data)
        self.add(data)


def parse_html(text: str) -> list[Section]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    joined = "".join(parser.parts)
    runs = [(m.start(), m.end()) for m in re.finditer(r"\n{3,}", joined)]
    if not runs:
        return split_at(joined, parser.heads)
    plain = re.sub(r"\n{3,}", "\n\n", joined)
    # blank lines collapsed: each heading's offset moves back by what was removed before it
    # (found by bisection, not by searching the text for its title: linear in the file)
    starts, removed, total = [s for s, _ in runs], [], 0
    for s, e in runs:
        removed.append(total)
        total += e - s - 2
    heads = []
    for offset, title in parser.heads:
        i = bisect.bisect_right(starts, offset) - 1
        if i < 0:
            heads.append((offset, title))
        else:
            s, e = runs[i]
            inside = min(offset - s, 2) if offset < e else offset - e + 2
            heads.append((s - removed[i] + inside, title))
    return split_at(plain, heads)


@contextmanager
def quiet_pypdf():
    """pypdf logs what it repairs ("EOF marker not found", "invalid pdf header") and warns
    through ``warnings``: on a garbage PDF that reached the console, though the reason the
    file is skipped already reaches the Sources list."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def parse_pdf(path: Path) -> list[Section]:
    with quiet_pypdf():
        return _parse_pdf(path)


def _parse_pdf(path: Path) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("encrypted PDF (a password is needed)")
        sections = []
        for number, page in enumerate(reader.pages, 1):
            text = page.extract_text() or ""
            if text.strip():
                sections.append(Section(text, "", number, 0))
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ParseError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # pypdf raises many kinds on damaged files (dependency errors are among them)
        if type(exc).__name__ == "DependencyError":
            raise ParseError(f"encrypted PDF that pypdf cannot open ({exc})") from None
        raise ParseError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    return sections
