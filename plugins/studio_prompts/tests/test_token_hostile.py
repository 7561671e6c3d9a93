"""A provider's malformed ``logprobs`` never fail the model call: the run finishes, and the
span gets a token record of what could be read, or a ``token_note`` saying why not."""

from __future__ import annotations

import math

import pytest

from studio.api import TokenRecord
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


def test_a_call_with_malformed_logprobs_still_succeeds(tmp_path, job_context, server):  # noqa: F811
    server.reset(logprobs=lambda reply, top_k: MALFORMED["text-logprob"])
    _run_dir, llm = _run(tmp_path, job_context, server, "malformed", {"logprobs": True, "top_logprobs": 2})
    assert "token_record" not in llm, llm
    # said as malformed, with why: not as if the provider had sent none
    assert llm["token_note"].startswith("the provider's logprobs were malformed (") and "'abc'" in llm["token_note"], (
        llm
    )


def test_malformed_logprobs_are_said_with_a_reason(tmp_path):
    """The note tells a provider's malformed logprobs (with a short reason) from none sent;
    the reason survives the cache (a cache hit says the same)."""
    from studio_prompts.lm import Completion, to_completion
    from studio_prompts.tokens import NO_LOGPROBS, read_logprobs, token_fields

    for name, content in MALFORMED.items():
        plain, why = read_logprobs({"content": content})
        assert plain is None and why and len(why) <= 120, name
    assert read_logprobs(None) == (None, "") and read_logprobs({"content": []}) == (None, "")
    assert read_logprobs({"content": READABLE["no-logprob"]})[1] == ""
    for logprobs, note in (
        (
            {"content": MALFORMED["text-top"]},
            "the provider's logprobs were malformed (a list of tokens was expected, not str)",
        ),
        (None, NO_LOGPROBS),
    ):
        reply = {"choices": [{"message": {"content": "a"}, "logprobs": logprobs}]}
        completion = to_completion(reply, "openai/x", 0.1, 1)
        fields = token_fields("s1", completion, [], {"logprobs": True}, tmp_path / "tensors", local=False)
        assert fields == {"token_note": note}, fields
        cached = Completion(**completion.to_cache(), cache_hit=True, attempts=0)
        assert token_fields("s2", cached, [], {"logprobs": True}, tmp_path / "tensors", local=False) == fields


def test_a_record_with_impossible_logprobs_is_shown(qtbot, tmp_path):
    """A file's logprob of 1e30 (no log-probability is above 0) overflowed math.exp in the
    Tokens tab's summary and the entropy estimate; it is shown as probability 1."""
    from studio_prompts.qt.token_view import TokenView

    record = TokenRecord("openai/x", "p", "ab", ["a", "b"], [1e30, -1.0], [["a"], ["b", "c"]], [[1e30], [-1.0, 1e30]])
    record.save(tmp_path / "tensors", "s1")
    entropy, exact = record.step_entropy(1)  # the 1e30 term counts as p = 1, adding 0
    assert entropy == pytest.approx(math.exp(-1.0)) and not exact
    view = TokenView()
    qtbot.addWidget(view)
    view.show_span({"kind": "llm", "id": "s1", "model": "openai/x", "token_record": "tensors/s1.json"}, tmp_path)
    view.load()
    assert view.record is not None and "2 reply tokens" in view.message.text(), view.message.text()
    view.select_token(1)  # its alternatives: one of 1e30
    assert view.selected == 1 and "entropy" in view.detail.toPlainText()


def test_a_providers_impossible_token_numbers_are_a_note(tmp_path):
    """Ids beyond int64 or an entropy beyond a float raised OverflowError when the record
    was saved, which failed the model call."""
    from studio_prompts.lm import to_completion
    from studio_prompts.tokens import token_fields

    content = [{"token": "H", "logprob": -0.1, "top_logprobs": []}, {"token": "i", "logprob": -0.7}]
    for studio_tokens in (
        {"reply_ids": [10**30, 2]},
        {"prompt_ids": [10**30], "prompt_tokens": ["a"]},
        {"entropy": [10**400, 1]},
    ):
        reply = {
            "choices": [{"message": {"content": "Hi"}, "logprobs": {"content": content}}],
            "studio_tokens": studio_tokens,
        }
        completion = to_completion(reply, "studio/x", 0.1, 1)
        fields = token_fields("s1", completion, [], {}, tmp_path / "tensors", local=True)
        assert fields["token_note"].startswith("token data not saved"), (studio_tokens, fields)


def test_a_trace_files_note_is_never_markup(qtbot, tmp_path):
    from studio_prompts.qt.token_view import TokenView

    view = TokenView()
    qtbot.addWidget(view)
    view.show_span(
        {"kind": "llm", "id": "s", "model": "openai/x", "token_note": "<img src='/etc/x'><b>n</b>"}, tmp_path
    )
    view.load()
    assert "<img src='/etc/x'>" in view.message.text()
    assert view.message.textFormat() == view.message.textFormat().PlainText  # shown as typed, not rendered
