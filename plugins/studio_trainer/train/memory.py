"""Memory is checked before it is allocated.

A model is first built on PyTorch's ``meta`` device (shapes, no storage), so a part a
plugin registers counts exactly; what it would need is compared with what the machine has
free (RAM from psutil, GPU memory from CUDA), and a model that cannot fit is refused with
a message instead of the allocator failing halfway through (or the machine swapping). An
allocation that fails anyway (the estimate is rough, other programs allocate too) is
recognised by ``is_out_of_memory`` so callers can say what to do instead of a traceback.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from ..config import LoRAConfig, ModelConfig
from ..model.gpt import GPT
from ..model.summary import human_size, summarize


class NotEnoughMemory(ValueError):
    """The model would not fit: refused before anything was allocated."""


class _NoInit(TorchFunctionMode):
    """Skips weight initialisers, which mean nothing without storage (and ``normal_`` on the
    meta device is written in Python: its first call imports torch._dynamo, seconds)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.normal_ or getattr(func, "__module__", "") == "torch.nn.init":
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


def meta_model(config: ModelConfig, lora: LoRAConfig | None = None) -> GPT:
    """The model with shapes and no storage: parameters, summaries and checkpoint headers
    can be checked against it at no cost."""
    from ..model.lora import apply_lora

    with torch.device("meta"), _NoInit():
        model = GPT(config)
        if lora is not None:
            apply_lora(model, lora.rank, lora.alpha, lora.targets)
    return model


def model_bytes(model: torch.nn.Module) -> int:
    """Bytes of the parameters and buffers (tied weights once) in fp32."""
    tensors = {id(t): t for t in (*model.parameters(), *model.buffers())}
    return sum(t.numel() for t in tensors.values()) * 4


def free_bytes(device: str) -> int:
    """What can still be allocated on ``device``: free GPU memory on CUDA, available RAM
    otherwise (MPS shares it)."""
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def require(need: float, device: str, what: str, advice: str) -> None:
    """Refuse (``NotEnoughMemory``) when ``need`` bytes exceed what ``device`` has free."""
    have = free_bytes(device)
    if need > have:
        where = "the GPU" if device.startswith("cuda") else "this machine"
        raise NotEnoughMemory(
            f"{what} needs about {human_size(need)} of memory and {where} has "
            f"{human_size(have)} free; {advice} (nothing was allocated)"
        )


def require_to_load(model: GPT, device: str, what: str) -> None:
    """Loading builds the model on the CPU and reads the weights beside it (twice the
    weights), then moves it to ``device``."""
    weights = model_bytes(model)
    advice = "use a machine with more memory, or a smaller model"
    require(2 * weights, "cpu", what, advice)
    if device != "cpu":
        require(weights, device, what, advice + ", or --device cpu")


def require_to_train(model: torch.nn.Module, params, device: str, loaded: int = 0) -> None:
    """Weights, gradients, AdamW moments and one micro-batch's activations (the model
    summary's estimate), for each process sharing the machine; ``loaded``: bytes of the
    model already in RAM (a checkpoint loaded to fine-tune or resume)."""
    need = summarize(model, params.batch_size, params.grad_checkpointing).train_bytes
    if not device.startswith("cuda"):  # data-parallel processes on the CPU share its RAM
        need = need * params.processes - loaded
    require(
        need,
        device,
        f"training this model (batch {params.batch_size} x context {params.model.block_size})",
        "use a smaller model, a smaller batch with more gradient accumulation, a shorter context, or "
        "gradient checkpointing",
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure: CUDA's, Python's, or the CPU allocator's RuntimeError."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
