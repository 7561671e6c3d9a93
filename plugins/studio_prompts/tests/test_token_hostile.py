"""A provider's malformed ``logprobs`` never fail the model call: the run finishes, and the
span gets a token record of what could be read, or a ``token_note`` saying why not."""

from __future__ import annotations

import math

import studio.fake_llm
from studio_prompts.tokens import plain_content

from .test_token_recording import _run, server  # noqa: F401 - the fixture

ONE = {"token": "a", "logprob": -1.0}
MALFORMED: dict[str, object] = {
    "string": "x",
    "number": 5,
    "none-items": [None, 3],
    "text-logprob": [{"token": "a", "logprob": "abc", "top_logprobs": []}],
    "text-top": [{**ONE, "top_logprobs": "zz"}],
    "dict-top": [{**ONE, "top_logprobs": [{"token": "b", "logprob": {"x": 1}}]}],
    "bool-logprob": [{"token": "a", "logprob": True}],
}
READABLE: dict[str, list] = {
    "no-logprob": [{"token": "a"}],
    "null-top": [{**ONE, "top_logprobs": [{"token": "b", "logprob": None}]}],
    "10,000 tokens": [{**ONE, "top_logprobs": [ONE]}] * 10_000,
}


def test_malformed_logprobs_are_no_token_data():
    for name, content in MALFORMED.items():
        assert plain_content({"content": content}) is None, name
    for name, content in READABLE.items():
        plain = plain_content({"content": content})
        assert plain is not None and len(plain) == len(content), name
        for item in plain:
            assert isinstance(item["logprob"], float)
            assert all(isinstance(alt["logprob"], float) for alt in item["top_logprobs"])
    missing = plain_content({"content": READABLE["no-logprob"]})
    assert missing is not None and math.isnan(missing[0]["logprob"])


def test_a_call_with_malformed_logprobs_still_succeeds(tmp_path, job_context, server, monkeypatch):  # noqa: F811
    monkeypatch.setattr(studio.fake_llm, "fake_logprobs", lambda reply, top_k=0: MALFORMED["text-logprob"])
    _run_dir, llm = _run(tmp_path, job_context, server, "malformed", {"logprobs": True, "top_logprobs": 2})
    assert llm["token_note"] and "token_record" not in llm, llm
