"""Measuring quantized models: the int8 fast path against the written-out reference; scheme
presets. (Loss and latency of a trained checkpoint before and after, through the model-loader
hook: tests/integration/test_quantizer_and_trainer.py.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from studio_quantizer.affine import quantize_tensor
from studio_quantizer.measure import DynamicInt8Linear, reference_dynamic_linear


@pytest.mark.parametrize("engine,reduce_range", [(None, None), ("x86", True), ("onednn", False)])
def test_int8_kernel_matches_the_reference_arithmetic(engine, reduce_range):
    if engine and engine not in torch.backends.quantized.supported_engines:
        pytest.skip(f"PyTorch here has no {engine} engine")
    if engine == "onednn" and not getattr(torch.cpu, "_is_vnni_supported", lambda: False)():
        pytest.skip("8-bit activations can saturate without VNNI: int8_backend() never picks them there")
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    qt = quantize_tensor(linear.weight, 8, True, "channel")
    x = torch.randn(5, 64)
    module = DynamicInt8Linear(linear, qt, reduce_range, engine)
    fast = module(x)
    reference = reference_dynamic_linear(x, qt, linear.bias.detach(), module.reduce_range)
    exact = x @ qt.dequantize().T + linear.bias.detach()
    assert torch.allclose(fast, reference, atol=2e-3, rtol=1e-3)  # the kernel is this arithmetic
    assert (fast - exact).abs().max() < 0.05  # and close to fp32 with the quantized weights


def test_int8_kernel_refuses_other_schemes():
    from studio_quantizer.quantized import QuantizeError

    linear = nn.Linear(32, 8)
    with pytest.raises(QuantizeError, match="8-bit symmetric"):
        DynamicInt8Linear(linear, quantize_tensor(linear.weight, 4, True, "group", 16))


def test_scheme_presets():
    from studio_quantizer.scheme import preset

    assert preset("int4-g128-asym").model_dump(include={"bits", "symmetric", "granularity", "group_size"}) == {
        "bits": 4,
        "symmetric": False,
        "granularity": "group",
        "group_size": 128,
    }
    with pytest.raises(ValueError, match="not a scheme name"):
        preset("float8")
