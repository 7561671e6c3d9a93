"""Tiny, randomly initialised Hugging Face causal LMs saved to a folder, for tests and
examples: no download, a few hundred kilobytes, built from a config in well under a second.

``tiny_hf_model(folder, family)`` writes what a real model folder holds — ``config.json``,
``model.safetensors``, ``generation_config.json``, and a byte-level BPE tokenizer
(``tokenizer.json`` + ``tokenizer_config.json`` with a ChatML chat template) — for the
families the studio knows: ``gpt2``, ``llama`` (grouped-query attention: 4 query heads, 2
key/value heads; RoPE, RMSNorm, SwiGLU) and ``qwen2`` (the same, with q/k/v biases).
Re-exported by ``studio.testing``; imports transformers only when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FAMILIES = ("gpt2", "llama", "qwen2")
EOS = "<|endoftext|>"
SPECIALS = [EOS, "<|im_start|>", "<|im_end|>"]
#: ChatML, as Qwen's and SmolLM's folders carry it
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TEXT = (
    "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "
    "the slings and arrows of outrageous fortune, or to take arms against a sea of troubles. "
    "The quick brown fox jumps over the lazy dog. Question: what is two plus two? Answer: four. "
)


def tiny_tokenizer(vocab_size: int = 300):
    """A byte-level BPE (every byte is a token, so any text encodes) as a transformers fast
    tokenizer with the ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([TEXT] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)
    fast.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_hf_config(
    family: str, vocab_size: int, *, layers: int = 2, hidden: int = 32, context: int = 128, eos: int = 0
):
    from transformers import GPT2Config, LlamaConfig, Qwen2Config

    if family == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size,
            n_positions=context,
            n_embd=hidden,
            n_layer=layers,
            n_head=4,
            bos_token_id=eos,
            eos_token_id=eos,
        )
    common: dict[str, Any] = {
        "bos_token_id": eos,
        "eos_token_id": eos,
        "pad_token_id": eos,
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,  # grouped-query attention: two query heads per key/value head
        "max_position_embeddings": context,
        "tie_word_embeddings": False,
    }
    if family == "llama":
        return LlamaConfig(**common)
    if family == "qwen2":
        return Qwen2Config(**common)
    raise ValueError(f"no tiny {family!r} model; choose one of {', '.join(FAMILIES)}")


def tiny_hf_model(
    folder: str | Path,
    family: str = "llama",
    *,
    layers: int = 2,
    hidden: int = 32,
    context: int = 128,
    seed: int = 0,
    dtype: str = "float32",
) -> Path:
    """Build a random ``family`` causal LM and save it as a Hugging Face folder; returns it."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    folder = Path(folder)
    tokenizer = tiny_tokenizer()
    eos = tokenizer.convert_tokens_to_ids(EOS)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = tiny_hf_config(family, len(tokenizer), layers=layers, hidden=hidden, context=context, eos=eos)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model = model.to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(eos_token_id=[eos, end], pad_token_id=eos)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
