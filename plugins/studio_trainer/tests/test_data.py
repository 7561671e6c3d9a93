"""Corpora in every supported format, tokenizers, and the batch samplers."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from studio.api import StudioFileError
from studio_trainer.data.batches import PairBatches, TokenBatches
from studio_trainer.data.corpus import CorpusError, load_pairs, load_texts
from studio_trainer.data.tokenizer import BPETokenizer, CharTokenizer, encode_documents, load_tokenizer

ROWS = [
    {"text": "alpha beta", "prompt": "Q1", "response": "A1"},
    {"text": "gamma delta", "prompt": "Q2", "response": "A2"},
]


def write_saved_dataset(folder, rows):
    """The layout ``datasets.Dataset.save_to_disk`` writes: Arrow stream files + state.json."""
    folder.mkdir()
    table = pa.Table.from_pylist(rows)
    with (
        pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink,
        pa.ipc.new_stream(sink, table.schema) as writer,
    ):
        writer.write_table(table)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (folder / "dataset_info.json").write_text("{}")


def test_every_table_format_gives_the_same_column(tmp_path):
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    (tmp_path / "t.json").write_text(json.dumps(ROWS))
    (tmp_path / "t.csv").write_text("text,prompt,response\nalpha beta,Q1,A1\ngamma delta,Q2,A2\n")
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "t.parquet")
    write_saved_dataset(tmp_path / "saved", ROWS)
    for name in ("t.jsonl", "t.json", "t.csv", "t.parquet", "saved"):
        assert load_texts(str(tmp_path / name)) == ["alpha beta", "gamma delta"], name
        assert load_pairs(str(tmp_path / name), "prompt", "response", 1000) == [("Q1", "A1"), ("Q2", "A2")], name


def test_saved_dataset_dict_uses_the_train_split(tmp_path):
    root = tmp_path / "dd"
    root.mkdir()
    write_saved_dataset(root / "train", ROWS[:1])
    write_saved_dataset(root / "test", ROWS[1:])
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    assert load_texts(str(root)) == ["alpha beta"]


def test_text_file_folder_and_default_corpus(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.txt").write_text("second")
    (tmp_path / "docs" / "a.md").write_text("first")
    (tmp_path / "docs" / "blob.bin").write_bytes(b"\x00\x01\x02")
    assert load_texts(str(tmp_path / "docs")) == ["first", "second"]
    stdlib = load_texts("stdlib", max_chars=20_000)
    assert sum(map(len, stdlib)) == 20_000 and "def " in "".join(stdlib)


def test_bad_corpora_are_explained(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "binary.dat").write_bytes(b"PK\x03\x04\x00\x00binary")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{not json\n')
    (tmp_path / "nothing").mkdir()
    cases = {
        "empty.txt": "is empty",
        "binary.dat": "binary",
        "t.csv": "no column 'text'; columns are: a, b",
        "bad.jsonl": "could not be read as JSONL",
        "nothing": "no readable text files",
        "missing.txt": "does not exist",
    }
    for name, message in cases.items():
        with pytest.raises(CorpusError, match=message):
            load_texts(str(tmp_path / name))


def test_char_tokenizer_round_trip_and_file(tmp_path):
    tok = CharTokenizer.train(["hello", "world"])
    assert tok.decode(tok.encode("hello world")) == "helloworld"  # ' ' is unknown: dropped
    assert tok.unknown("hello world!") == {" ", "!"}
    tok.save(tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert again.encode("low") == tok.encode("low") and again.vocab_size == tok.vocab_size == 8
    assert json.loads((tmp_path / "tokenizer.json").read_text())["type"] == "char"


def test_bpe_tokenizer_learns_merges_and_round_trips(tmp_path):
    texts = ["the cat sat on the mat. " * 50, "the dog sat on the log. " * 50]
    tok = BPETokenizer.train(texts, vocab_size=300)
    assert 256 < tok.vocab_size <= 300
    text = "the cat sat on the log. ünïcödé"
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode("the cat sat on the mat.")) < len("the cat sat on the mat.")  # merges happened
    assert "".join(piece for _, piece in tok.pieces("the mat")) == "the mat"
    tok.save(tmp_path / "tokenizer.json")
    assert load_tokenizer(tmp_path / "tokenizer.json").encode(text) == tok.encode(text)
    stream = encode_documents(tok, ["a b", "c d"])
    assert stream.count(tok.eos_id) == 2


def test_broken_tokenizer_file(tmp_path):
    (tmp_path / "t.json").write_text("{nope")
    with pytest.raises(StudioFileError, match="not valid JSON"):
        load_tokenizer(tmp_path / "t.json")
    (tmp_path / "t.json").write_text('{"type": "char", "chars": ["ab"]}')
    with pytest.raises(StudioFileError, match="single characters"):
        load_tokenizer(tmp_path / "t.json")


def test_token_batches_resume_from_their_state():
    tokens = torch.arange(100)
    a = TokenBatches(tokens, 8, 4, seed=1)
    a.next()
    state = {k: v.clone() for k, v in a.state().items()}
    expected = [a.next() for _ in range(3)]
    b = TokenBatches(tokens, 8, 4, seed=999)
    b.load_state(state)
    for (x1, y1), (x2, y2) in zip(expected, [b.next() for _ in range(3)], strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x, y = expected[0]
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    with pytest.raises(ValueError, match="not more than the context length"):
        TokenBatches(torch.arange(9), 8, 1, 0, name="validation")


def test_token_batches_are_the_windows_at_the_seeded_starts():
    """The batches a checkpoint's generator state stands for: the windows of the stream at
    the seeded random starts (a run saved before the gather changed resumes on the same data)."""
    tokens = torch.randperm(500)
    x, y = TokenBatches(tokens, 16, 8, seed=3).next()
    starts = torch.randint(500 - 16 - 1, (8,), generator=torch.Generator().manual_seed(3))
    expected = torch.stack([tokens[i : i + 17] for i in starts.tolist()])
    assert torch.equal(x, expected[:, :-1]) and torch.equal(y, expected[:, 1:])


def test_pair_batches_pad_dynamically_in_length_buckets():
    pairs = [([1] * n, [2, 2, 0]) for n in list(range(1, 30)) * 2]
    batches = PairBatches(pairs, batch_size=4, block_size=64, pad_id=0, seed=0)
    widths, waste = [], 0
    for _ in range(len(pairs) // 4):
        x, y = batches.next()
        widths.append(x.shape[1])
        for row in range(x.shape[0]):
            counted = (y[row] != -100).sum().item()
            assert counted == 3  # the response and EOS only: prompt and padding are masked
        waste += int((y == -100).sum())
    assert len(set(widths)) > 5  # each batch padded to its own longest pair
    uniform = sum(len(p) + len(r) - 1 for p, r in pairs) - 3 * len(pairs)
    assert waste - uniform < 0.25 * uniform  # buckets keep padding small
    state = batches.state()
    following = batches.next()
    resumed = PairBatches(pairs, batch_size=4, block_size=64, pad_id=0, seed=0)
    resumed.load_state(state)
    assert all(torch.equal(a, b) for a, b in zip(following, resumed.next(), strict=True))
