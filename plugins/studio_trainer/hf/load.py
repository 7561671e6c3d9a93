"""Open a Hugging Face folder: checked first (``folder.check_folder``: no pickles unless
allowed, never remote code, nothing downloaded), then the model and its tokenizer.

``load_hf(folder, device, dtype)`` returns ``(HFCausalLM, HFTokenizer, config)`` as
``train.checkpoint.load_checkpoint`` returns a studio checkpoint's, so every caller that
takes one takes the other. ``dtype`` "auto" is bfloat16 where the device computes it
natively (CUDA with bf16, a CPU with AVX-512 BF16 or AMX), float32 otherwise; the config
says which was picked and why (``loaded_as``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .folder import HFFolderError, check_folder

DTYPES = ("auto", "float32", "bfloat16", "float16")


def pick_dtype(device: str, dtype: str = "auto") -> tuple[str, str]:
    """(the dtype to load in, why)."""
    if dtype not in DTYPES:
        raise HFFolderError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if dtype != "auto":
        return dtype, "asked for"
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bfloat16", "the GPU computes bfloat16 natively"
    if device == "cpu" and cpu_has_native_bf16():
        return "bfloat16", "the CPU computes bfloat16 natively (AVX-512 BF16 / AMX)"
    return "float32", f"{device} has no native bfloat16"


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def load_hf(
    folder: Path,
    device: str = "cpu",
    dtype: str = "auto",
    *,
    allow_pickle: bool = False,
    train: bool = False,
    generate: bool = False,
) -> tuple[Any, Any, dict[str, Any]]:
    """Model (eval mode, on ``device``), tokenizer and a config dict (``family``,
    ``dtype``, ``loaded_as``). Every problem is an :class:`HFFolderError` of one line.
    A folder whose weights another plugin stored (quantized) is built from its config and
    those weights read back as floats; with ``generate`` on the CPU they compute in their
    stored form where the plugin can (``WeightReader.run_stored``), as studio checkpoints do."""
    import pickle
    import warnings

    import torch
    from huggingface_hub.errors import StrictDataclassError
    from safetensors import SafetensorError

    from studio.api import looks_like_pickle

    from .model import HFCausalLM, LayoutError, register_attention
    from .tokenizer import HFTokenizer

    folder = Path(folder)
    found = check_folder(folder, allow_pickle=allow_pickle)
    chosen, why = pick_dtype(device, dtype)
    if found.stored is not None and generate and device == "cpu" and dtype == "auto" and chosen != "float32":
        chosen, why = "float32", "quantized weights are read back in float32 (the int8 kernels take float32)"
    try:
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would flood a job's log
    except ImportError:  # pragma: no cover - transformers is a dependency
        raise HFFolderError("opening a Hugging Face folder needs transformers: pip install transformers") from None
    reader = None
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # transformers' many-line load report: the refusal below says it in one
    try:
        if found.weights or (found.pickles and not found.stored):
            with warnings.catch_warnings():  # torch's "pickle protocol" note on a refused pickle
                warnings.simplefilter("ignore", UserWarning)
                loaded: Any = AutoModelForCausalLM.from_pretrained(
                    str(folder),
                    local_files_only=True,
                    trust_remote_code=False,
                    use_safetensors=not (allow_pickle and not found.weights),
                    dtype=getattr(torch, chosen),
                    attn_implementation=register_attention(),
                    output_loading_info=True,
                )
            hf, loading = loaded
            missing = sorted(loading.get("missing_keys") or ())
            if missing:  # transformers would fill them with random values
                raise HFFolderError(
                    f"{folder}: its weights do not match config.json: {len(missing)} missing, e.g. {missing[0]}"
                )
        else:
            hf, reader = _from_stored(folder, getattr(torch, chosen))
    except HFFolderError:
        raise
    except pickle.UnpicklingError:
        raise HFFolderError(
            f"{found.pickles[0] if found.pickles else folder}: the pickle holds more than tensors, which "
            "weights_only refuses to unpickle (it could run code); Tensor Studio will not load it"
        ) from None
    except (
        OSError,
        ValueError,
        RuntimeError,
        KeyError,
        TypeError,
        AttributeError,
        SafetensorError,
        StrictDataclassError,
    ) as exc:
        disguised = [p for p in found.weights if looks_like_pickle(p)]
        if disguised:
            raise HFFolderError(
                f"{disguised[0]} is a PyTorch pickle named .safetensors; Tensor Studio never unpickles "
                "weights it has not been allowed to (a pickle can run code)"
            ) from None
        if "ignore_mismatched_sizes" in str(exc):
            raise HFFolderError(f"{folder}: its weights' shapes do not match config.json") from None
        raise HFFolderError(f"{folder}: transformers could not load the model: {_first_line(exc)}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    for name, tensor in hf.state_dict().items():  # NaN sampled garbage, or failed deep in torch
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise HFFolderError(f"{folder}: the weights hold NaN or infinite values ({name}, first of them)")
    try:
        tokenizer = HFTokenizer.load(folder)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise HFFolderError(f"{folder}: its tokenizer could not be loaded: {_first_line(exc)}") from None
    loaded_as = f"{found.family} in {chosen} ({why})"
    if reader is not None:
        loaded_as += f"; weights from {reader.title}"
        if generate and device == "cpu" and reader.run_stored:
            from studio.api import resolve

            stored = resolve(reader.run_stored)(hf, folder)  # int8 layers where it can (a copy)
            if stored is not hf:
                hf, loaded_as = stored, loaded_as + ", computing in its stored form"
    try:
        model = HFCausalLM(hf, found.family, chosen)
    except LayoutError as exc:
        raise HFFolderError(f"{folder}: {exc}; the studio cannot hook into this architecture") from None
    model = model.to(device)
    model.train(train)
    config = {
        "format": "huggingface",
        "family": found.family,
        "architecture": found.architecture,
        "dtype": chosen,
        "loaded_as": loaded_as,
        "step": None,
    }
    return model, tokenizer, config


def _from_stored(folder: Path, dtype: Any) -> tuple[Any, Any]:
    """The model built from config.json, holding the weights a plugin's reader gives back."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from studio.api import contributions, resolve

    from .model import register_attention

    reader = next((r for r in contributions("studio_weight_readers") if (folder / r.marker).is_file()), None)
    if reader is None:
        raise HFFolderError(f"{folder} has no model weights (and no installed plugin reads its files)")
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    config._attn_implementation = register_attention()
    hf = AutoModelForCausalLM.from_config(config, dtype=dtype, trust_remote_code=False)
    state = resolve(reader.read)(folder)
    missing, unexpected = hf.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    missing = [m for m in missing if m not in tied]
    if missing or unexpected:
        raise HFFolderError(
            f"{folder}: its weights do not match config.json: missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}"
        )
    if tied:
        hf.tie_weights()
    return hf.eval(), reader


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
