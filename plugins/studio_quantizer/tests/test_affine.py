"""The arithmetic: round trip error bounds for every scheme (property-based), zero exactly
representable, codes inside their range, packing round trips."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from studio_quantizer.affine import code_range, quantize_tensor
from studio_quantizer.packing import pack, unpack

floats = st.floats(-50, 50, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def matrices(draw):
    rows = draw(st.integers(1, 6))
    groups = draw(st.integers(1, 4))
    values = draw(st.lists(floats, min_size=rows * groups * 8, max_size=rows * groups * 8))
    return torch.tensor(values, dtype=torch.float32).reshape(rows, groups * 8)


@settings(max_examples=200, deadline=None)
@given(
    w=matrices(),
    bits=st.integers(2, 8),
    symmetric=st.booleans(),
    granularity=st.sampled_from(["tensor", "channel", "group"]),
)
def test_round_trip_error_is_at_most_half_a_step(w, bits, symmetric, granularity):
    qt = quantize_tensor(w, bits, symmetric, granularity, group_size=8)
    qmin, qmax = code_range(bits, symmetric)
    assert int(qt.q.min()) >= qmin and int(qt.q.max()) <= qmax
    back = qt.dequantize()
    assert back.shape == w.shape
    step = qt.scale.expand_as(qt.q).reshape(w.shape)
    zero = qt.zero_point.expand_as(qt.q).reshape(w.shape)
    error = (back - w).abs()
    # inside the grid's range a value comes back within S/2; the grid's ends may sit up to
    # S/2 inside the data's range (the zero point is rounded, the scale is rounded to fp16),
    # so a clamped extreme is within S
    inside = (w >= (qmin - zero) * step) & (w <= (qmax - zero) * step)
    assert torch.all(error[inside] <= step[inside] / 2 * (1 + 1e-5) + 1e-6)
    assert torch.all(error <= step * (1 + 1e-5) + 1e-6)


@settings(max_examples=100, deadline=None)
@given(w=matrices(), bits=st.integers(2, 8))
def test_zero_is_exact_when_asymmetric_and_symmetric(w, bits):
    w = w.clone()
    w[0, 0] = 0.0
    for symmetric in (True, False):
        assert quantize_tensor(w, bits, symmetric, "channel").dequantize()[0, 0] == 0.0


def test_finer_granularity_is_never_worse_on_rows_of_different_scale():
    torch.manual_seed(0)
    w = torch.randn(16, 64) * torch.logspace(-2, 1, 16).unsqueeze(1)
    errors = {
        g: float((quantize_tensor(w, 4, True, g, 32).dequantize() - w).pow(2).mean())
        for g in ("tensor", "channel", "group")
    }
    assert errors["group"] <= errors["channel"] < errors["tensor"]


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_packing_round_trip(bits, symmetric):
    qmin, qmax = code_range(bits, symmetric)
    codes = torch.randint(qmin, qmax + 1, (7, 13), dtype=torch.int32)
    offset = 2 ** (bits - 1) if symmetric else 0
    packed = pack(codes, bits, offset)
    assert packed.dtype == torch.uint8
    if 8 % bits == 0:
        assert packed.numel() == -(-codes.numel() * bits // 8)  # ceil: really packed
    assert torch.equal(unpack(packed, bits, offset, codes.numel()).reshape(codes.shape), codes)


def test_bad_bits_are_refused():
    with pytest.raises(ValueError, match="between 2 and 8"):
        quantize_tensor(torch.ones(2, 8), 9)
