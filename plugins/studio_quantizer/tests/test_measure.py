"""Measuring quantized models: the int8 fast path against the written-out reference, and
loss / latency of a trained checkpoint before and after, through the model-loader hook."""

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


def test_loss_and_latency_before_and_after(make_studio, run_job, tmp_path, capsys):
    import json

    import studio_trainer.hooks as trainer_hooks
    from studio_trainer.tests.helpers import tiny

    from studio.cli import main

    text = "To be, or not to be, that is the question.\n" * 300
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text)
    studio = make_studio(("trainer", trainer_hooks))
    trained = run_job(studio, "trainer.train", tiny(corpus))
    source = sorted((trained.run.dir / "checkpoints").glob("step-*"))[-1]
    assert main(["quantize", str(source), "--bits", "8", "--measure", str(corpus), "--repeats", "3",
                 "--out", str(tmp_path / "q8"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    before, weight_only, dynamic = (report["measured"][k] for k in ("fp32", "weight_only", "dynamic_int8"))
    assert abs(weight_only["loss"] - before["loss"]) < 0.05 and abs(dynamic["loss"] - before["loss"]) < 0.1
    assert before["latency_ms_b8"] > 0 and dynamic["latency_ms_b1"] > 0
    bad = tmp_path / "notamodel"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes((source / "model.safetensors").read_bytes())
    assert main(["quantize", str(bad), "--measure", str(corpus), "--out", str(tmp_path / "x")]) == 2
    assert "no installed plugin can load" in capsys.readouterr().err


def test_compare_and_sensitivity(make_studio, run_job, tmp_path, capsys):
    import json

    import studio_trainer.hooks as trainer_hooks
    from studio_trainer.tests.helpers import tiny

    from studio.cli import main
    from studio_quantizer.scheme import preset

    assert preset("int4-g128-asym").model_dump(include={"bits", "symmetric", "granularity", "group_size"}) == \
        {"bits": 4, "symmetric": False, "granularity": "group", "group_size": 128}
    with pytest.raises(ValueError, match="not a scheme name"):
        preset("float8")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("All the world's a stage, and all the men and women merely players.\n" * 200)
    trained = run_job(make_studio(("trainer", trainer_hooks)), "trainer.train", tiny(corpus))
    source = sorted((trained.run.dir / "checkpoints").glob("step-*"))[-1]
    assert main(["quantize", str(source), "--compare", "int8,int4-g16,int2-tensor", "--measure", str(corpus),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["scheme"] for r in rows] == ["int8-sym-channel-weight_only", "int4-sym-group16-weight_only",
                                           "int2-sym-tensor-weight_only"]
    assert rows[0]["bits_per_weight"] > rows[1]["bits_per_weight"] > rows[2]["bits_per_weight"]
    assert abs(rows[0]["loss_change"]) < abs(rows[2]["loss_change"])  # 2 bits per tensor hurts most
    assert main(["quantize", str(source), "--bits", "2", "--granularity", "tensor", "--sensitivity",
                 "--measure", str(corpus), "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)
    assert layers and layers[0]["loss_change"] >= layers[-1]["loss_change"]
    assert main(["quantize", str(source), "--sensitivity"]) == 2
    assert "needs --measure" in capsys.readouterr().err
