"""Device and precision choices, explained when they cannot be honoured."""

from __future__ import annotations

import contextlib

import torch

#: dense bf16/fp16 tensor-core peak FLOP/s, for model FLOPs utilisation (MFU)
PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
    "V100": 125e12,
    "T4": 65e12,
}


def pick_device(choice: str) -> str:
    if choice == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    if choice == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but this machine has no Apple GPU; use 'auto' or 'cpu'")
    return choice


def autocast(device: str, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device != "cuda":
        raise ValueError("fp16 training needs CUDA (it uses a grad scaler); use bf16 on the CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device, dtype=dtype)


def peak_flops(device: str) -> float | None:
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((flops for key, flops in PEAK_FLOPS.items() if key in name), None)
