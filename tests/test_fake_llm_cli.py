"""``python -m studio.fake_llm``: its help says what it does in full, and ``--port`` picks
the port (default: a free one, printed); a bad or busy port is a one-line error, exit 2."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from studio.fake_llm import FakeLLMServer, main


def test_the_help_is_whole_and_names_the_port(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Serves until killed (Ctrl+C or SIGTERM)" in out and "on the first line of stdout." in out
    assert "--port PORT" in out and "default: a free port, printed" in out


def test_a_chosen_port_and_a_busy_or_bad_one(capsys):
    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with FakeLLMServer(["hi"], port=port) as server:
        assert server.url == f"http://127.0.0.1:{port}/v1"
        with urllib.request.urlopen(f"{server.url}/models", timeout=5) as _reply:  # it answers there
            pass
        with pytest.raises(SystemExit) as busy:
            main(["--port", str(port)])
    assert busy.value.code == 2 and f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main(["--port", "70000"])
    assert bad.value.code == 2
