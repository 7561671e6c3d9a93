"""A small OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

Real HTTP, so litellm's real client code runs (``model="openai/<name>"``,
``api_base=server.url``). Replies are scripted: a list (served in order, the last one
repeated), or a function ``reply(request) -> str``; a reply may instead be
``Fail(status)`` for an error response, and ``latency`` delays every reply. Every request
is kept in ``requests`` (with the time it arrived) for assertions, and each chat request's
``Authorization`` header in ``authorizations`` (which key reached the server). Threaded: concurrent
requests are served concurrently, as a real provider would. ``POST /embeddings`` answers
with deterministic vectors (words hashed into ``EMBEDDING_DIM`` buckets), so texts that
share words get similar embeddings. A chat request with ``logprobs: true`` gets OpenAI's
``choices[0].logprobs.content`` (``fake_logprobs``): the reply split into words and the
spaces before them, with deterministic, plausible log-probabilities and ``top_logprobs``
alternatives.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fail:
    status: int = 500
    message: str = "scripted failure"


EMBEDDING_DIM = 32

Reply = str | Fail
Script = list[Reply] | Callable[[dict], Reply]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # socketserver's default of 5 drops simultaneous connects (a 1 s SYN retry)
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hung up before its (slow, scripted) reply is what timeout tests do:
        not worth socketserver's traceback on stderr, which lands in a later test's output."""
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class FakeLLMServer:
    def __init__(self, script: Script | None = None, latency: float = 0.0, model: str = "fake-model", port: int = 0):
        self.port = port  # 0: a free port, chosen at start (``url`` says which)
        self.script: Script = script if script is not None else ["ok"]
        self.latency = latency
        self.logprobs: Callable[[str, int], Any] = fake_logprobs  # what a request asking for logprobs gets
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self._lock = threading.Lock()
        self._served = 0
        self._server: ThreadingHTTPServer | None = None

    # ---- lifecycle

    def start(self) -> FakeLLMServer:
        server = _Server(("127.0.0.1", self.port), _handler(self))
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        ).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def reset(
        self,
        script: Script | None = None,
        latency: float | None = None,
        logprobs: Callable[[str, int], Any] | None = None,
    ) -> None:
        """A new script and latency (None keeps the current); ``logprobs(reply, top_k)``
        answers what a request asking for logprobs gets as ``logprobs.content`` (default:
        ``fake_logprobs``; a test of a provider's malformed logprobs returns garbage)."""
        with self._lock:
            if script is not None:
                self.script = script
            if latency is not None:
                self.latency = latency
            self.logprobs = logprobs or fake_logprobs
            self.requests.clear()
            self.authorizations.clear()
            self._served = 0

    # ---- behaviour

    def next_reply(self, request: dict[str, Any], authorization: str = "") -> Reply:
        with self._lock:
            self.requests.append({**request, "_received": time.time()})
            self.authorizations.append(authorization)
            index = self._served
            self._served += 1
        if callable(self.script):
            return self.script(request)
        return self.script[min(index, len(self.script) - 1)]


def fake_tokens(reply: str) -> list[str]:
    """The reply cut into tokens that join back to it: each word with the spaces before it."""
    import re

    return re.findall(r"\s*\S+|\s+$", reply)


def fake_logprobs(reply: str, top_k: int = 0) -> list[dict[str, Any]]:
    """OpenAI-shaped ``logprobs.content`` for ``reply``: per token a log-probability that
    depends only on the token and its position (so tests can predict it), and ``top_k``
    alternatives, likeliest first, the chosen token among them (first or second)."""
    import math
    import zlib

    content = []
    for i, token in enumerate(fake_tokens(reply)):
        seed = zlib.crc32(f"{i}:{token}".encode())
        chosen_first = seed % 3 != 0
        # probabilities of the top alternatives: decreasing, summing below 1
        probs = [0.6 * 0.5**j for j in range(max(top_k, 1))]
        top = []
        for j in range(top_k):
            alt = token if (j == 0) == chosen_first and (j <= 1) else f"{token.strip() or '_'}~{j}"
            top.append({"token": alt, "logprob": math.log(probs[j]), "bytes": list(alt.encode())})
        logprob = math.log(probs[0] if chosen_first else 0.3)
        content.append({"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": top})
    return content


def _handler(owner: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": [{"id": owner.model, "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, {"error": {"message": "body is not JSON"}})
                return
            if self.path.rstrip("/").endswith("/embeddings"):
                self._embeddings(request)
                return
            reply = owner.next_reply(request, self.headers.get("Authorization") or "")
            if owner.latency:
                time.sleep(owner.latency)
            if isinstance(reply, Fail):
                self._send(
                    reply.status, {"error": {"message": reply.message, "type": "scripted", "code": reply.status}}
                )
                return
            prompt = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
            completion = len(reply.split())
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }
            if request.get("logprobs"):
                choice["logprobs"] = {"content": owner.logprobs(reply, int(request.get("top_logprobs") or 0))}
            self._send(
                200,
                {
                    "id": f"chatcmpl-{owner._served}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", owner.model),
                    "choices": [choice],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                    },
                },
            )

        def _embeddings(self, request: dict) -> None:
            import hashlib
            import re

            texts = request.get("input") or []
            texts = [texts] if isinstance(texts, str) else texts
            with owner._lock:
                owner.requests.append({**request, "_received": time.time()})
            data = []
            for i, text in enumerate(texts):
                vector = [0.0] * EMBEDDING_DIM
                for word in re.findall(r"\w+", str(text).lower()):
                    vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % EMBEDDING_DIM] += 1.0
                vector[0] += 1e-3
                data.append({"object": "embedding", "index": i, "embedding": vector})
            tokens = sum(len(str(t).split()) for t in texts)
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": request.get("model", owner.model),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
            )

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


DESCRIPTION = (
    "A fake OpenAI-compatible chat server on 127.0.0.1 for tests, benchmarks and trying workflows "
    "without an API key: every chat request gets the same scripted reply (with logprobs when asked). "
    "Serves until killed (Ctrl+C or SIGTERM); prints its URL (use it as a model's api_base, with "
    "model 'openai/<any name>') on the first line of stdout."
)


def main(argv: list[str] | None = None) -> None:
    """``python -m studio.fake_llm --reply TEXT --latency 0.2 --port 8011``: serve until
    killed, in its own process (benchmarks use this, so the server does not share the
    client's GIL). Prints the URL on the first line of stdout."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m studio.fake_llm", description=DESCRIPTION)
    parser.add_argument("--reply", default="ok", help="the text every chat request gets (default: %(default)s)")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to wait before each reply (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the port on 127.0.0.1 to listen on (default: a free port, printed)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: a port is 0 (any free one) to 65535")
    try:
        server = FakeLLMServer([args.reply], latency=args.latency, port=args.port).start()
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(server.url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    main()
