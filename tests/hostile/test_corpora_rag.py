"""Hostile input to ``tensor-studio rag``: flags out of range, paths that do not exist, file
names and queries that are not UTF-8, a huge one-line file, links that loop, garbage PDFs,
collection files that are damaged or not collections, a model config that must not be built,
a collection file that names Python code as its embedder, a plugin folder that is not one.

The toy embedder (hashed words, no model) keeps most runs fast; the huge file goes through
MiniLM's own tokenizer, where one token can cover a whole line.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess

import pytest

from studio.api import Folders
from studio_rag.tests.toy import NOT_A_FOLDER, foreign_database, not_a_folder

from .conftest import Cli, CliResult, expect_all_refused, expect_failed, expect_ok, expect_refused

TOY = "python:studio_rag.tests.toy:embedder"


@pytest.fixture
def corpus(tmp_path):
    """Plain documents beside a latin-1 file name, a link loop, a dangling link and a garbage PDF."""
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "guide.md").write_text("# Guide\n\nBoil the pasta for ten minutes.\n")
    (root / "notes.txt").write_text("The quarterly report is due on Friday.\n")
    fd = os.open(os.fsencode(root) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY)
    os.write(fd, b"The cafe sells espresso and croissants.\n")
    os.close(fd)
    (root / "loop.txt").symlink_to("loop.txt")
    (root / "gone.md").symlink_to(tmp_path / "nowhere.md")
    (root / "bad.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(2000))
    return root


def test_flags_out_of_range_are_refused_at_parse_time(cli):
    expect_all_refused(
        cli,
        (("rag", "search", "pasta", "-k", "-1"), "-k", "out of range"),
        (("rag", "search", "pasta", "--mmr", "5"), "--mmr", "0 to 1"),
        (
            ("rag", "index", ".", "--overlap", "500", "--chunk-size", "200"),
            "--overlap 500 is not smaller than --chunk-size 200",
        ),
    )


def test_a_path_that_was_never_a_source_is_refused(cli, tmp_path):
    expect_refused(
        cli("rag", "index", tmp_path / "no-such-folder", "--embedder", TOY), "no such folder or file", "no-such-folder"
    )


def test_odd_names_links_and_garbage_are_indexed_or_skipped_with_reasons(cli, corpus):
    result, searched, shown = cli.batch(  # in order: the index is made, then read
        ("rag", "index", corpus, "-c", "notes", "--embedder", TOY),
        ("rag", "search", "espresso", "-c", "notes", "-k", "1", "--json", "--embedder", TOY),
        ("rag", "status", "-c", "notes"),
    )
    summary = json.loads(expect_ok(result).out.strip().splitlines()[-1])
    assert summary["indexed"] == 3 and summary["failed"] == 3, result  # the latin-1 name is indexed
    assert "symbolic link loop" in result.err and "broken symbolic link" in result.err, result
    hits = json.loads(expect_ok(searched).out)
    assert hits[0]["path"].endswith("/caf\\xe9.txt")  # shown with the odd byte escaped
    status = expect_ok(shown).out
    assert "caf\\xe9.txt" in status and "not a readable PDF" in status and "symbolic link loop" in status
    expect_refused(cli("rag", "search", b"caf\xe9", "-c", "notes"), "utf-8")


def test_a_huge_one_line_file_is_cut_into_capped_chunks(cli, tmp_path):
    """With MiniLM's tokenizer a line without spaces is one [UNK] token: it was one chunk of
    the whole file, and a search printed all of it."""
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "line.txt").write_bytes(b"zebra " + b"x" * 3_000_000 + b" tail")
    # the largest chunks there are (2048 tokens: at most 8 × 2048 characters) keep MiniLM's work short
    result = expect_ok(cli("rag", "index", folder, "-c", "big", "--chunk-size", "2048", timeout=300))
    summary = json.loads(result.out.strip().splitlines()[-1])
    assert summary["chunks"] > 3_000_000 // 16384, summary
    result = expect_ok(cli("rag", "search", "zebra", "-c", "big", "--mode", "keyword", "--json", "-k", "3"))
    hits = json.loads(result.out)
    assert hits and all(len(hit["text"]) <= 16384 for hit in hits) and len(result.out) < 60_000


def test_damaged_and_foreign_collection_files_are_refused_and_left_as_they_are(cli, corpus, tmp_path):
    rag = Folders(cli.workspace).plugin_dir("rag")
    garbage = b"SQLite format 3\x00" + os.urandom(8000)
    (rag / "broken.rag.sqlite").write_bytes(garbage)
    other = tmp_path / "app.db"
    before = foreign_database(other)
    search, status, index, rebuild = cli.batch(
        ("rag", "search", "pasta", "-c", "broken"),
        ("rag", "status"),
        ("rag", "index", corpus, "-c", other, "--embedder", TOY),
        ("rag", "index", corpus, "-c", other, "--rebuild", "--embedder", TOY),
    )
    expect_refused(search, "broken.rag.sqlite", "not a readable collection")
    assert "unreadable" in expect_ok(status).out
    expect_refused(index, "not a collection")
    expect_refused(rebuild, "not a collection", "--rebuild replaces only collections")
    assert other.read_bytes() == before and (rag / "broken.rag.sqlite").read_bytes() == garbage


def test_an_embedder_config_of_100000_layers_is_refused_before_building(cli, tmp_path, corpus):
    from studio_rag.embedder import minilm_path

    folder = tmp_path / "embedder"
    shutil.copytree(minilm_path(), folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(minilm_path() / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 100_000}))
    expect_refused(cli("rag", "index", corpus, "--embedder", folder, timeout=60), "num_hidden_layers", "100,000")


def test_a_collection_name_too_long_for_a_file_is_refused_in_one_line(cli, tmp_path):
    """A 5,000-letter name was 'internal error: OSError: File name too long'."""
    expect_all_refused(
        cli,
        (("rag", "status", "--collection", "a" * 5000), "collection name", "5,000 characters"),
        (("rag", "search", "hello", "-c", f"{tmp_path}/{'b' * 300}/c.rag.sqlite"), "300 bytes", "255"),
    )


def test_rebuild_replaces_only_a_collection_and_keeps_a_damaged_one_aside(cli, tmp_path):
    """`--rebuild` turned any file given as the collection into one (a text file, another
    program's database); a damaged collection was deleted."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("hello world\n")
    precious = tmp_path / "p.txt"
    precious.write_text("precious\n")
    expect_refused(
        cli("rag", "index", docs, "-c", precious, "--rebuild", "--embedder", TOY),
        "p.txt",
        "not a collection",
        "left as it is",
    )
    assert precious.read_text() == "precious\n"
    broken = Folders(cli.workspace).plugin_dir("rag") / "broken.rag.sqlite"
    garbage = b"SQLite format 3\x00" + os.urandom(8000)
    broken.write_bytes(garbage)
    expect_ok(cli("rag", "index", docs, "-c", "broken", "--rebuild", "--embedder", TOY))
    (aside,) = broken.parent.glob("broken.rag.sqlite.damaged-*")
    assert aside.read_bytes() == garbage


def test_on_a_full_disk_search_and_status_read_the_collection(small_disk, tmp_path):
    """A full disk made `rag search` say 'not a readable collection (disk I/O error) … start
    this one afresh with --rebuild' about a healthy collection (SQLite could not make its
    -shm file), and the attempt left -wal / -shm files behind."""
    from studio.core.workspace import Workspace

    disk = small_disk(5)
    cli = Cli(tmp_path / "home", Workspace.create(disk / "workspace").root)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("hello world\n")
    expect_ok(cli("rag", "index", docs, "-c", "c1", "--embedder", TOY))
    with open(disk / "filler", "wb", buffering=0) as fh:  # fill the disk
        for block in (1 << 20, 4096, 512, 1):
            try:
                while True:
                    fh.write(b"\0" * block)
            except OSError as exc:
                refused = exc.errno
            assert refused == errno.ENOSPC
    hits = json.loads(expect_ok(cli("rag", "search", "hello", "-c", "c1", "--json", "--embedder", TOY)).out)
    assert hits and hits[0]["path"].endswith("a.txt")
    assert "a.txt" in expect_ok(cli("rag", "status", "-c", "c1")).out
    assert sorted(p.name for p in Folders(cli.workspace).plugin_dir("rag").iterdir()) == ["c1.rag.sqlite"]


EVIL = "python:evil_embed:make"


def test_a_collection_file_that_names_python_code_never_runs_it_unless_you_name_it(cli, tmp_path):
    """`rag search` (a reading command) and a workflow's retriever imported and called the
    ``python:module:function`` a shared collection file recorded as its embedder."""
    code, mark = tmp_path / "code", tmp_path / "ran"
    code.mkdir()
    (code / "evil_embed.py").write_text(
        f"from pathlib import Path\nPath({str(mark)!r}).write_text('ran')\n"
        "from studio_rag.tests.toy import HashEmbedder\n\n\n"
        f"class Evil(HashEmbedder):\n    spec = {EVIL!r}\n\n\ndef make():\n    return Evil()\n"
    )
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")]))}
    docs, shared = tmp_path / "docs", tmp_path / "shared.rag.sqlite"
    docs.mkdir()
    (docs / "a.txt").write_text("The quick brown fox jumps over the lazy dog.\n")
    expect_ok(cli("rag", "index", docs, "-c", shared, "--embedder", EVIL, env=env))  # named: it runs
    mark.unlink()

    expect_refused(
        cli("rag", "search", "fox", "-c", shared, env=env),
        "collection 'shared' was indexed with Python code as its embedder (python:evil_embed:make); "
        "it runs only if you name it: --embedder python:evil_embed:make",
    )
    assert not mark.exists()
    hits = json.loads(expect_ok(cli("rag", "search", "fox", "-c", shared, "--mode", "keyword", "--json", env=env)).out)
    assert hits[0]["path"].endswith("a.txt") and not mark.exists()
    expect_refused(cli("rag", "search", "fox", "-c", shared, "--embedder", "minilm", env=env), "another one")

    flow = tmp_path / "retrieve.workflow.json"
    flow.write_text(
        json.dumps(
            {
                "format": "tensor-studio.workflow",
                "version": 1,
                "name": "retrieve",
                "inputs": {"question": {"type": "str"}},
                "outputs": {"passages": "retrieve.passages"},
                "nodes": {
                    "retrieve": {
                        "type": "rag.retrieve",
                        "inputs": {"query": "input.question"},
                        "params": {"collection": str(shared), "k": 1, "mode": "hybrid"},
                    }
                },
            }
        )
    )
    expect_failed(
        cli("workflow", "run", flow, "--input", "question=fox", "--quiet", env=env),
        "Python code as its embedder (python:evil_embed:make)",
        "a workflow does not run it",
    )
    assert not mark.exists()

    hits = json.loads(expect_ok(cli("rag", "search", "fox", "-c", shared, "--embedder", EVIL, "--json", env=env)).out)
    assert hits[0]["path"].endswith("a.txt") and mark.exists()  # named on the command line: it runs


@pytest.mark.parametrize("kind", NOT_A_FOLDER)
def test_a_plugin_folder_that_is_not_a_folder_is_said_in_one_line(cli, tmp_path, kind):
    """`rag sample` was an internal FileExistsError; `rag index` and `jobs run rag.index`
    failed with the raw '[Errno 17] File exists'."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("hello world\n")
    rag = Folders(cli.workspace).plugin_dir("rag", create=False)
    not_a_folder(kind, rag)
    said = f"{rag} is not a folder; move it away"
    sources = json.dumps([str(docs)])
    job = ("jobs", "run", "rag.index", "--set", f"sources={sources}", "--set", f"embedder={TOY}")
    commands = [
        ("rag", "sample"),
        ("rag", "index", docs, "--embedder", TOY),
        ("rag", "search", "hello", "--mode", "keyword"),
        ("rag", "status"),
    ]
    results = cli.batch(*commands, *([job] if kind == "file" else []))
    for result in results[: len(commands)]:
        expect_refused(result, said)
    if kind == "file":
        expect_failed(results[-1], said)
    assert os.path.lexists(rag) and not rag.is_dir()  # left as it was


def as_user(cli: Cli, *commands: tuple) -> list[CliResult]:
    """``cli.batch(*commands)`` without root's power to read any file (when run as root)."""
    wrapper = ("setpriv", "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    return cli.batch(*commands, wrapper=wrapper)


def test_a_plugin_folder_that_cannot_be_read_is_said_in_one_line(cli, tmp_path):
    """With ``rag/`` unreadable, `rag search` (reading), `rag index` and `rag sample` were
    internal PermissionErrors."""
    if os.geteuid() == 0 and (
        shutil.which("setpriv") is None
        or subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "true"]).returncode
    ):
        pytest.skip("root reads every file, and setpriv cannot drop that here")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("hello world\n")
    expect_ok(cli("rag", "index", docs, "--embedder", TOY))
    rag = Folders(cli.workspace).plugin_dir("rag")
    rag.chmod(0)
    try:
        search, status, index, sample, remove = as_user(
            cli,
            ("rag", "search", "hello", "--mode", "keyword"),
            ("rag", "status"),
            ("rag", "index", docs, "--embedder", TOY),
            ("rag", "sample"),
            ("rag", "remove", docs),
        )
        expect_refused(search, "cannot read", "permission denied")
        expect_refused(status, f"cannot read {rag}: permission denied")
        expect_refused(index, f"cannot read {rag}: permission denied")
        expect_refused(sample, "cannot write", "permission denied")
        expect_refused(remove, "cannot read", "permission denied")
    finally:
        rag.chmod(0o755)
