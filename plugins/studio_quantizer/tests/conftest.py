"""A small studio-format checkpoint for the quantizer's tests."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture
def checkpoint(tmp_path):
    """A small studio-format checkpoint folder (random weights, GPT names)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = {
        "wte.weight": torch.randn(50, 64),
        "blocks.0.attn.qkv.weight": torch.randn(192, 64) * 0.02,
        "blocks.0.attn.qkv.bias": torch.zeros(192),
        "blocks.0.mlp.fc.weight": torch.randn(256, 64) * 0.02,
        "ln_f.weight": torch.ones(64),
    }
    folder = tmp_path / "ckpt"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model": {"n_embd": 64}}))
    return folder
