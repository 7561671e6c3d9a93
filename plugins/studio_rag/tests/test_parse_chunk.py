from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio_rag.chunk import MAX_TOKEN_CHARS, SEGMENT, chunk_sections
from studio_rag.embedder import TokenCounter, _word_spans, token_counter
from studio_rag.parse import ParseError, Section, parse_file, parse_html, parse_markdown, parse_rst

WORDS = TokenCounter(_word_spans, exact=False)


def test_markdown_headings_skip_code_fences():
    text = "intro\n\n# A\n\ntext a\n\n```\n# not a heading\n```\n\n## B\n\ntext b\n"
    sections = parse_markdown(text)
    assert [s.heading for s in sections] == ["", "A", "A › B"]
    assert all(text[s.offset : s.offset + len(s.text)] == s.text for s in sections)
    assert sections[2].line == text[: sections[2].offset].count("\n") + 1


def test_rst_and_html_headings():
    assert [s.heading for s in parse_rst("Top\n===\n\nbody\n\nSub\n---\n\nmore\n")] == ["Top", "Top › Sub"]
    sections = parse_html("<h1>Weather</h1><p>Rain <b>today</b></p><script>x=1</script><h2>Wind</h2><p>calm</p>")
    assert [s.heading for s in sections] == ["Weather", "Weather › Wind"]
    assert "Rain today" in sections[0].text and "x=1" not in "".join(s.text for s in sections)


def test_html_headings_keep_their_place_when_blank_lines_collapse():
    """Headings were found again by searching for their title, which missed titles with
    runs of spaces and scanned the rest of the text for each one (quadratic)."""
    page = "".join(f"<h2>Title   {i}</h2><p>para {i}</p><div></div><div></div>" for i in range(3000))
    sections = parse_html(page)
    assert len(sections) == 3000
    assert all(s.text.startswith(f"Title   {i}\n\npara {i}") for i, s in enumerate(sections))


def test_code_splits_at_definitions(docs):
    sections = parse_file(docs / "tool.py")
    assert [s.heading for s in sections] == ["", "def frobnicate", "class Widget"]


def test_bad_files_are_refused_with_a_reason(tmp_path):
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(ParseError, match="binary"):
        parse_file(binary)
    big = tmp_path / "big.txt"
    big.write_text("x" * 2000)
    with pytest.raises(ParseError, match="too large"):
        parse_file(big, max_bytes=1000)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café crème".encode("latin-1"))
    assert parse_file(latin)[0].text == "café crème"
    with pytest.raises(ParseError, match="cannot be read"):
        parse_file(tmp_path / "missing.txt")


def _pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica, offsets computed so readers accept it."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_pages_encrypted_and_corrupt(tmp_path):
    from pypdf import PdfReader, PdfWriter

    good = tmp_path / "good.pdf"
    good.write_bytes(_pdf("Hello from page one"))
    (section,) = parse_file(good)
    assert section.page == 1 and "Hello from page one" in section.text
    writer = PdfWriter()
    writer.append(PdfReader(str(good)))
    writer.encrypt("secret")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as f:
        writer.write(f)
    with pytest.raises(ParseError, match="encrypted"):
        parse_file(locked)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(ParseError):
        parse_file(broken)


def test_a_garbage_pdf_is_refused_without_pypdf_writing_to_the_console(tmp_path, caplog, recwarn):
    """pypdf logged "EOF marker not found" and the like to the console for a file whose
    reason already reaches the Sources list; its logger is back as it was afterwards."""
    import logging
    import os

    garbage = tmp_path / "broken.pdf"
    garbage.write_bytes(os.urandom(2000))
    header_only = tmp_path / "header.pdf"
    header_only.write_bytes(b"%PDF-1.7\n" + os.urandom(2000))
    level = logging.getLogger("pypdf").level
    with caplog.at_level(logging.DEBUG):
        for path in (garbage, header_only):
            with pytest.raises(ParseError, match="not a readable PDF"):
                parse_file(path)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")], caplog.text
    assert not [w for w in recwarn if "pypdf" in w.filename]
    assert logging.getLogger("pypdf").level == level


def test_chunks_respect_size_paragraphs_and_keep_their_place():
    text = "# Title\n\n" + "\n\n".join(f"Paragraph {i} " + "word " * (i * 7 % 40 + 3) for i in range(30))
    chunks = chunk_sections(parse_markdown(text), WORDS, size=60, overlap=10)
    assert len(chunks) > 3
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text and chunk.tokens <= 60 and chunk.heading == "Title"
        assert chunk.text.startswith(("Paragraph", "word", "# Title"))  # cut at paragraphs, or between words
    # every paragraph is in some chunk
    for i in range(30):
        assert any(f"Paragraph {i} " in c.text for c in chunks)


def test_a_long_paragraph_is_cut_between_words_with_overlap():
    text = " ".join(f"token{i}" for i in range(500))
    counter = token_counter("minilm")
    chunks = chunk_sections([Section(text)], counter, size=50, overlap=10)
    assert all(c.tokens <= 50 for c in chunks)
    assert all(c.text.startswith("token") and (c.end == len(text) or text[c.end] == " ") for c in chunks)
    for before, after in pairwise(chunks):
        assert after.start < before.end  # they overlap


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="ab \n#.", min_size=0, max_size=80), min_size=1, max_size=12),
    st.integers(8, 40),
    st.integers(0, 20),
    st.sampled_from([None, 64, 100]),
)
def test_chunk_spans_always_match_the_text(parts, size, overlap, max_chars):
    text = "\n\n".join(parts)
    for section in parse_markdown(text):
        for chunk in chunk_sections([section], WORDS, size=size, overlap=overlap, max_chars=max_chars):
            assert text[chunk.start : chunk.end] == chunk.text and chunk.text.strip()
            assert chunk.tokens <= size and len(chunk.text) <= max(64, max_chars or 8 * size)
            assert chunk.line == text.count("\n", 0, chunk.start) + 1


def _recording(counter: TokenCounter, lengths: list[int]) -> TokenCounter:
    def spans(texts):
        lengths.extend(map(len, texts))
        return counter.spans(texts)

    return TokenCounter(spans, counter.exact)


def test_an_unbroken_line_is_cut_under_a_character_cap_counted_honestly_and_tokenized_in_pieces():
    """WordPiece reads a word over 100 characters as one [UNK]: a 20 MB line was one chunk
    "of 1 token", tokenized whole (2.4 GB)."""
    text = "x" * 300_000
    lengths: list[int] = []
    chunks = chunk_sections([Section(text)], _recording(token_counter("minilm"), lengths), size=50, overlap=10)
    assert max(lengths) <= SEGMENT  # never tokenized whole
    assert len(chunks) > 300_000 / 400
    assert all(len(c.text) <= 8 * 50 and c.tokens * MAX_TOKEN_CHARS >= len(c.text) for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert all(after.start < before.end for before, after in pairwise(chunks))  # no gap, overlapping


def test_a_long_word_among_words_and_a_long_paragraph_of_words_stay_capped():
    long_word = "see " + "y" * 5000 + " end"
    paragraph = " ".join(f"word{i}" for i in range(20_000))
    text = f"{long_word}\n\n{paragraph}\n\nlast line"
    lengths: list[int] = []
    chunks = chunk_sections([Section(text)], _recording(token_counter("minilm"), lengths), size=100, overlap=20)
    assert max(lengths) <= SEGMENT
    assert all(len(c.text) <= 800 and c.tokens <= 100 and text[c.start : c.end] == c.text for c in chunks)
    assert "see" in chunks[0].text and chunks[-1].text.endswith("last line")
    assert any("word19999" in c.text for c in chunks)
