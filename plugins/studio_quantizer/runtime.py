"""Generate from a quantized checkpoint in integer form (``studio_weight_readers``' ``run_stored``).

The loader first builds the model with the dequantized weights. Here each Linear layer
whose weights were stored as 8-bit symmetric codes (per channel or per tensor) becomes a
``DynamicInt8Linear``, which runs PyTorch's int8 kernel on those very codes and scales. Everything
else stays as loaded: embeddings, norms, 4-bit and asymmetric weights (no CPU kernel for
them here), and so does a model with nothing to convert.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from .measure import dynamic_int8
from .quantized import load_codes


def run_stored(model: nn.Module, folder: Path) -> nn.Module:
    quantized, _, _ = load_codes(folder)
    linears = {name for name, module in model.named_modules() if isinstance(module, nn.Linear)}
    int8 = {
        name: qt
        for name, qt in quantized.items()
        if qt.bits == 8
        and qt.symmetric
        and qt.granularity in ("channel", "tensor")
        and name.removesuffix(".weight") in linears
    }
    return dynamic_int8(model, int8) if int8 else model
