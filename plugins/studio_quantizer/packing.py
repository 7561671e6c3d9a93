"""Packing b-bit codes into bytes for storage: 8 / b codes per byte when b divides 8
(int2, int4, int8); other widths (3, 5, 6, 7) are stored one code per byte."""

from __future__ import annotations

import torch


def packs(bits: int) -> bool:
    return 8 % bits == 0


def pack(q: torch.Tensor, bits: int, offset: int) -> torch.Tensor:
    """Codes (int, shifted by ``offset`` to be ≥ 0) → a flat uint8 tensor."""
    codes = (q.reshape(-1).to(torch.int32) + offset).to(torch.uint8)
    if not packs(bits) or bits == 8:
        return codes
    per_byte = 8 // bits
    pad = (-codes.numel()) % per_byte
    if pad:
        codes = torch.cat([codes, torch.zeros(pad, dtype=torch.uint8)])
    codes = codes.reshape(-1, per_byte).to(torch.int32)
    packed = torch.zeros(codes.shape[0], dtype=torch.int32)
    for i in range(per_byte):
        packed |= codes[:, i] << (bits * i)
    return packed.to(torch.uint8)


def unpack(packed: torch.Tensor, bits: int, offset: int, count: int) -> torch.Tensor:
    if not packs(bits) or bits == 8:
        codes = packed.to(torch.int32)
    else:
        per_byte = 8 // bits
        mask = (1 << bits) - 1
        as_int = packed.to(torch.int32)
        codes = torch.stack([(as_int >> (bits * i)) & mask for i in range(per_byte)], dim=1).reshape(-1)
    return codes[:count] - offset
