"""Measure what quantization does to a model: loss, perplexity and latency, before / after.

The model comes from whichever plugin can load the checkpoint (``studio_model_loaders``;
the trainer's GPT today). Two ways to run it quantized:

* **weight-only** — the dequantized weights put back into a copy of the model. Quality is
  exactly that of the scheme; speed is fp32's (CPUs have no int4 matmul kernel here).
* **dynamic int8** — each quantized Linear becomes ``DynamicInt8Linear``: our reference
  int8 codes and scales, packed for PyTorch's int8 kernel (fbgemm / onednn), activations
  quantized on the fly per call. ``reference_dynamic_linear`` is the same arithmetic
  written out, and the tests check the kernel against it.
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.api import LoadedModel, contributions, resolve

from .affine import QuantizedTensor
from .quantized import QuantizeError
from .scheme import ObserverKind


def load_model(path: Path) -> LoadedModel:
    for loader in contributions("studio_model_loaders"):
        loaded = resolve(loader.load)(Path(path))
        if loaded is not None:
            return loaded
    from .quantized import check_config

    check_config(path)  # a broken config.json, rather than "unknown architecture"
    found = "" if (Path(path) / "config.json").exists() else " (and it has no config.json)"
    raise QuantizeError(
        f"{path}: no installed plugin can load this model (unknown architecture){found}; "
        "`tensor-studio plugins` lists what is installed"
    )


def weight_only(model: nn.Module, quantized: dict[str, QuantizedTensor]) -> nn.Module:
    copy_ = copy.deepcopy(model)
    state = {name: qt.dequantize() for name, qt in quantized.items()}
    missing = [n for n in state if n not in dict(copy_.named_parameters())]
    if missing:
        raise QuantizeError(f"the model has no parameter {missing[0]!r}: the file does not match the architecture")
    copy_.load_state_dict(state, strict=False)
    return copy_.eval()


def bias_of(linear: nn.Linear) -> torch.Tensor | None:
    """A Linear layer's bias: None for ``nn.Linear(..., bias=False)``, though torch
    annotates ``Linear.bias`` as always a Parameter."""
    return linear.bias


def int8_backend() -> tuple[str, bool]:
    """(PyTorch quantized engine, reduce_range) for dynamic int8 on this CPU. With VNNI (or
    AMX) the products cannot overflow, so oneDNN runs activations on all 8 bits — faster
    there (AMX) and more accurate; elsewhere the x86 engine with PyTorch's 7-bit default."""
    engines = torch.backends.quantized.supported_engines
    vnni = getattr(torch.cpu, "_is_vnni_supported", lambda: False)()
    if "onednn" in engines and vnni:
        return "onednn", False
    return torch.backends.quantized.engine, True


class DynamicInt8Linear(nn.Module):
    """A Linear whose weight is our int8 symmetric per-channel codes, run by PyTorch's int8
    kernel with activations quantized per call. ``engine`` / ``reduce_range`` default to
    ``int8_backend()``; the weights are packed for that engine (the op dispatches on them)."""

    def __init__(
        self, linear: nn.Linear, qt: QuantizedTensor, reduce_range: bool | None = None, engine: str | None = None
    ):
        super().__init__()
        if qt.bits != 8 or not qt.symmetric or qt.granularity not in ("channel", "tensor"):
            raise QuantizeError("the int8 kernel takes 8-bit symmetric per-channel or per-tensor weights")
        best_engine, best_reduce = int8_backend()
        self.engine = engine or best_engine
        self.reduce_range = best_reduce if reduce_range is None else reduce_range
        codes = qt.q.reshape(linear.weight.shape).to(torch.int8)
        with warnings.catch_warnings():  # torch 2.13 deprecates these, yet its int8 kernels still need them
            warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
            if qt.granularity == "tensor":
                qweight = torch._make_per_tensor_quantized_tensor(codes, float(qt.scale.reshape(-1)[0]), 0)
            else:
                scales = qt.scale.reshape(-1).double().contiguous()
                zeros = torch.zeros(linear.out_features, dtype=torch.long)
                qweight = torch._make_per_channel_quantized_tensor(codes, scales, zeros, 0)
        bias = bias_of(linear)
        bias = bias.detach().float() if bias is not None else None
        previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = self.engine
        try:
            self.packed = torch.ops.quantized.linear_prepack(qweight, bias)
        finally:
            torch.backends.quantized.engine = previous
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x, self.packed, self.reduce_range)  # any leading dims


def replace_linears(model: nn.Module, quantized: dict[str, QuantizedTensor], make) -> nn.Module:
    """A copy of ``model`` whose Linear layers named in ``quantized`` are ``make(linear,
    qt, module_name)``. A quantized weight of another kind of layer (GPT-2's transformers
    ``Conv1D``, whose weight is stored [in, out] and quantized per output channel as its
    transpose) computes in float with its dequantized values, as weight-only: PyTorch's
    int8 kernel is for nn.Linear."""
    copy_ = copy.deepcopy(model)
    modules = dict(copy_.named_modules())
    for name, qt in quantized.items():
        module_name = name.removesuffix(".weight")
        linear = modules.get(module_name)
        weight = getattr(linear, "weight", None)
        if not isinstance(linear, nn.Linear) and isinstance(weight, nn.Parameter) and weight.dim() == 2:
            with torch.no_grad():
                weight.copy_(qt.dequantize().reshape(weight.shape))
            continue
        if not isinstance(linear, nn.Linear):
            raise QuantizeError(f"{module_name} is not a Linear layer: int8 execution quantizes Linear layers only")
        parent_name, _, child = module_name.rpartition(".")
        setattr(modules[parent_name] if parent_name else copy_, child, make(linear, qt, module_name))
    return copy_.eval()


def dynamic_int8(
    model: nn.Module, quantized: dict[str, QuantizedTensor], reduce_range: bool | None = None, engine: str | None = None
) -> nn.Module:
    """``reduce_range``: 7-bit activations (safe from int16 overflow on CPUs without VNNI);
    False uses all 8 bits. None: what ``int8_backend()`` picks for this CPU."""
    return replace_linears(
        model, quantized, lambda linear, qt, _name: DynamicInt8Linear(linear, qt, reduce_range, engine)
    )


class StaticInt8Linear(nn.Module):
    """Static int8: activations quantized with a range fixed by calibration (asymmetric
    uint8), weights with the reference codes. Written as the arithmetic it is (quantize the
    input, multiply, scale back) in float: it shows the quality of the scheme; it is not a
    faster kernel."""

    def __init__(self, linear: nn.Linear, qt: QuantizedTensor, act_scale: torch.Tensor, act_zero: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(qt.dequantize().reshape(linear.weight.shape), requires_grad=False)
        bias = bias_of(linear)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.act_scale, self.act_zero = act_scale, act_zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .affine import dequantize, quantize

        x = dequantize(quantize(x, self.act_scale, self.act_zero, 8, False), self.act_scale, self.act_zero)
        return nn.functional.linear(x, self.weight, self.bias)


def calibrate(loaded: LoadedModel, names: list[str], text: str, observer: ObserverKind = "minmax") -> dict[str, Any]:
    """Run the model over ``text`` (its held-out part, through the loader's ``loss``) and
    observe the input of each named Linear layer."""
    from .observers import Observer

    if not text.strip():
        raise QuantizeError("the calibration set is empty: give a text with something in it")
    modules = dict(loaded.model.named_modules())
    observers = {name: Observer(observer) for name in names}
    handles = [
        modules[name].register_forward_pre_hook(lambda _m, args, n=name: observers[n].update(args[0])) for name in names
    ]
    try:
        loaded.loss(loaded.model, text)
    finally:
        for handle in handles:
            handle.remove()
    return observers


def static_int8(model: nn.Module, quantized: dict[str, QuantizedTensor], observers: dict[str, Any]) -> nn.Module:
    return replace_linears(
        model, quantized, lambda linear, qt, name: StaticInt8Linear(linear, qt, *observers[name].qparams())
    )


def reference_dynamic_linear(
    x: torch.Tensor, qt: QuantizedTensor, bias: torch.Tensor | None, reduce_range: bool = True
) -> torch.Tensor:
    """Dynamic int8, written out: the activations get one asymmetric uint8 scale per call
    (7 bits with ``reduce_range``), the product is integer, then scaled back."""
    qmax = 127 if reduce_range else 255
    x_min, x_max = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    x_scale = (x_max - x_min) / qmax if x_max > x_min else 1.0
    x_zero = int(min(qmax, max(0, round(-x_min / x_scale))))
    xq = torch.clamp(torch.round(x / x_scale) + x_zero, 0, qmax)
    w = qt.q.reshape(qt.shape).float()
    acc = (xq - x_zero) @ w.T  # exact in float for these magnitudes, as int32 in the kernel
    y = acc * x_scale * qt.scale.reshape(1, -1)
    return y + bias if bias is not None else y


def latency_ms(model: nn.Module, inputs: Any, repeats: int = 20) -> float:
    """Median milliseconds of one forward pass (after two warm-up passes)."""
    times = []
    with torch.inference_mode():
        for _ in range(2):
            model(inputs)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(inputs)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def measure(loaded: LoadedModel, candidate: nn.Module, text: str | None, repeats: int = 20) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if text:
        out["loss"] = loss = loaded.loss(candidate, text)
        if loaded.loss_name:
            out["loss_name"] = loaded.loss_name
        else:
            out["perplexity"] = float(torch.exp(torch.tensor(loss)))
    for batch in (1, 8):
        out[f"latency_ms_b{batch}"] = latency_ms(candidate, loaded.example_input(batch), repeats)
    return out
