"""The inspector on a quantized folder the quantizer wrote from a trainer checkpoint: it
loads through the trainer's checkpoint loading (the quantizer's weight reader), and its
numbers are the original model's within the quantization error."""

from __future__ import annotations

import json

import numpy as np
import torch

from studio.cli import main
from studio_trainer.config import ModelConfig
from studio_trainer.data.tokenizer import CharTokenizer
from studio_trainer.inspect import inspect_text
from studio_trainer.model.gpt import GPT
from studio_trainer.train.checkpoint import save_checkpoint

TEXT = "to be, or not to be"


def test_a_quantized_folder_can_be_inspected(studio_home, tmp_path, capsys):
    tokenizer = CharTokenizer(sorted(set(TEXT)))
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=tokenizer.vocab_size))
    source = save_checkpoint(tmp_path / "ckpt", model, tokenizer, step=1, val_loss=None)
    out = tmp_path / "int8"
    assert main(["quantize", str(source), "--bits", "8", "--out", str(out)]) == 0
    capsys.readouterr()
    original = inspect_text(source, TEXT)
    quantized = inspect_text(out, TEXT)
    assert quantized.attention_available and quantized.n_head == 2
    assert not np.array_equal(quantized.logprobs[1:], original.logprobs[1:])  # other weights…
    np.testing.assert_allclose(quantized.logprobs[1:], original.logprobs[1:], atol=0.05)  # …close to the original
    assert main(["inspect", str(out), "--text", TEXT, "--json", "--top-k", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["attention_shape"] == [2, 2, len(TEXT), len(TEXT)] and data["tokens"] == list(TEXT)
