"""Affine quantization, the reference: M(x) = round(x / S) + Z, and back x ≈ (q − Z) · S.

Written to be read. For ``b`` bits:

* **symmetric**: Z = 0, q ∈ [−(2^(b−1) − 1), 2^(b−1) − 1], S = max|x| / (2^(b−1) − 1).
  The grid is centred on zero (one code, −2^(b−1), is left unused so +x and −x match).
* **asymmetric**: q ∈ [0, 2^b − 1], S = (max − min) / (2^b − 1), Z = round(−min / S),
  with the range widened to include 0 so that zero is exactly representable (padding,
  ReLU outputs and masked weights stay exactly zero).

Granularity: one (S, Z) for the whole tensor, one per output channel (row of a Linear
weight), or one per group of ``group_size`` consecutive values along a row. Values inside
the grid's range come back within S / 2 of where they were; the data's extremes may fall
just outside it (the zero point is rounded to an integer, the scale to fp16) and are
clamped, within S. Those two bounds are what the tests check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

Granularity = Literal["tensor", "channel", "group"]


def code_range(bits: int, symmetric: bool) -> tuple[int, int]:
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be between 2 and 8, got {bits}")
    if symmetric:
        top = 2 ** (bits - 1) - 1
        return -top, top
    return 0, 2**bits - 1


def qparams(x_min: torch.Tensor, x_max: torch.Tensor, bits: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point for ranges [x_min, x_max] (tensors of the same shape)."""
    qmin, qmax = code_range(bits, symmetric)
    x_min = torch.minimum(x_min, torch.zeros_like(x_min))  # the range always holds 0
    x_max = torch.maximum(x_max, torch.zeros_like(x_max))
    tiny = torch.finfo(torch.float32).tiny
    if symmetric:
        scale = torch.maximum(x_max.abs(), x_min.abs()) / qmax
        scale = torch.where(scale > 0, scale, torch.full_like(scale, 1.0))
        return scale.clamp_min(tiny), torch.zeros_like(scale, dtype=torch.int32)
    scale = (x_max - x_min) / (qmax - qmin)
    scale = torch.where(scale > 0, scale, torch.full_like(scale, 1.0)).clamp_min(tiny)
    zero_point = torch.clamp(torch.round(qmin - x_min / scale), qmin, qmax).to(torch.int32)
    return scale, zero_point


FP16_MIN, FP16_MAX = 2.0**-24, 65504.0


def to_storable(scale: torch.Tensor) -> torch.Tensor:
    """Scales are stored as fp16: round them now, so the codes are computed with the very
    scale that will be read back."""
    return scale.clamp(FP16_MIN, FP16_MAX).half().float()


def quantize(
    x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, bits: int, symmetric: bool
) -> torch.Tensor:
    qmin, qmax = code_range(bits, symmetric)
    return torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax).to(torch.int32)


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    return (q - zero_point).to(scale.dtype) * scale


@dataclass
class QuantizedTensor:
    """Integer codes with their scales and zero points, and how to read them back."""

    q: torch.Tensor  # int32 codes, shaped like the blocks: (rows, groups, group_size) or the tensor's shape
    scale: torch.Tensor
    zero_point: torch.Tensor
    shape: tuple[int, ...]
    bits: int
    symmetric: bool
    granularity: Granularity
    group_size: int = 0
    #: the codes hold the weight transposed (``shape`` is the transposed one): a layer stored
    #: [in, out], as GPT-2's ``Conv1D``, quantized per output channel all the same
    transposed: bool = False

    def dequantize(self) -> torch.Tensor:
        """The weight as the model stores it (transposed back when it was)."""
        w = dequantize(self.q, self.scale, self.zero_point).reshape(self.shape)
        return w.t() if self.transposed else w

    def storage_bits(self) -> int:
        """Bits on disk: packed codes plus scales (fp16) and zero points (int8 / uint8, none
        when symmetric)."""
        codes = self.q.numel() * self.bits
        params = self.scale.numel() * 16 + (0 if self.symmetric else self.zero_point.numel() * 8)
        return codes + params


def blocks(w: torch.Tensor, granularity: Granularity, group_size: int) -> torch.Tensor:
    """The view of ``w`` whose last dimension holds the values sharing one (S, Z)."""
    if granularity == "tensor":
        return w.reshape(1, -1)
    rows = w.reshape(w.shape[0], -1) if w.dim() > 1 else w.reshape(1, -1)
    if granularity == "channel":
        return rows
    if rows.shape[1] % group_size:
        raise ValueError(f"a row of {rows.shape[1]} values does not split into groups of {group_size}")
    return rows.reshape(rows.shape[0], rows.shape[1] // group_size, group_size)


def quantize_tensor(
    w: torch.Tensor, bits: int, symmetric: bool = True, granularity: Granularity = "channel", group_size: int = 32
) -> QuantizedTensor:
    w = w.detach().float()
    view = blocks(w, granularity, group_size)
    x_min = view.amin(dim=-1, keepdim=True)
    x_max = view.amax(dim=-1, keepdim=True)
    scale, zero_point = qparams(x_min, x_max, bits, symmetric)
    scale = to_storable(scale)  # quantize with the scale exactly as it will be stored
    q = quantize(view, scale, zero_point, bits, symmetric)
    return QuantizedTensor(
        q, scale, zero_point, tuple(w.shape), bits, symmetric, granularity, group_size if granularity == "group" else 0
    )


def error_stats(w: torch.Tensor, qt: QuantizedTensor) -> dict[str, float]:
    """MSE and signal-to-noise ratio (dB) of the round trip."""
    w = w.detach().float()
    err = w - qt.dequantize()
    mse = float(err.pow(2).mean())
    signal = float(w.pow(2).mean())
    if mse == 0:
        snr = float("inf")
    elif signal == 0:
        snr = float("-inf")
    else:
        snr = 10 * math.log10(signal / mse)
    return {
        "mse": mse,
        "snr_db": snr,
        "max_abs_error": float(err.abs().max()) if err.numel() else 0.0,
        "scale_min": float(qt.scale.min()),
        "scale_max": float(qt.scale.max()),
    }
