"""Prompt–response pairs as token ids, for a model with a chat template or without one.

With a template (a Hugging Face model's, ``DataConfig.chat_template``), a pair is one
conversation: the prompt is the user's turn and the response the assistant's. The prompt
part is the template's rendering of ``[user]`` with the generation prompt (``<|im_start|>
assistant\\n``), the whole is ``[user, assistant]``; the loss is taken only on what the
whole adds to the prompt part (the reply and its end-of-turn). A template whose prompt
rendering is not a prefix of the whole (one that stamps a date, say) cannot be split so:
those pairs are joined plainly, and the run's log says how many. Without a template, the
prompt's ids, then the response's and the end-of-text token, as for a studio model.
"""

from __future__ import annotations

from collections.abc import Callable


def render_pair(tokenizer, prompt: str, response: str) -> tuple[str, str] | None:
    """(the prompt part, the rest) of the pair rendered as a chat, or None when the
    template's prompt rendering is not a prefix of the whole conversation."""
    user = {"role": "user", "content": prompt}
    head = tokenizer.chat([user], add_generation_prompt=True)
    whole = tokenizer.chat([user, {"role": "assistant", "content": response}], add_generation_prompt=False)
    if not whole.startswith(head):
        return None
    return head, whole[len(head) :]


def encode_pairs(
    tokenizer, raw: list[tuple[str, str]], chat_template: bool, note: Callable[[str], object] = lambda text: None
) -> tuple[list[tuple[list[int], list[int]]], list[int]]:
    """(prompt ids, response ids) per pair, and the characters each pair stands for (for
    bits per byte). The response's ids are the ones the loss is taken on."""
    use_chat = chat_template and bool(getattr(tokenizer, "has_chat_template", False))
    pairs: list[tuple[list[int], list[int]]] = []
    chars: list[int] = []
    plain = 0
    for prompt, response in raw:
        rendered = render_pair(tokenizer, prompt, response) if use_chat else None
        if rendered is not None:
            head, rest = rendered
            pairs.append((tokenizer.encode(head), tokenizer.encode(rest)))
            chars.append(len(head) + len(rest))
            continue
        plain += use_chat
        pairs.append((tokenizer.encode(prompt), tokenizer.encode(response) + [tokenizer.eos_id]))
        chars.append(len(prompt) + len(response))
    if use_chat:
        note(
            "prompt/response pairs rendered with the model's chat template (the loss on the assistant's reply only)"
            + (
                f"; {plain} of {len(raw)} pairs joined plainly: the template's prompt is not a prefix of its "
                "conversation"
                if plain
                else ""
            )
        )
    elif chat_template and getattr(tokenizer, "kind", "") == "hf":
        note("the model has no chat template: each prompt is followed by its response as plain text")
    return pairs, chars
