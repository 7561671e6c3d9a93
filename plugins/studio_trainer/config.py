"""The trainer's parameters as pydantic models: what a form, a JSON file or ``--set`` fills in.

Everything a run needs is here and lands in the run's ``params.json``, so a run can be
read, diffed and repeated. No torch import: the GUI builds forms from these.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from studio.api import check_model_field, submit_folders

#: limits far above any model this trainer is for, low enough that no config asks for
#: petabytes (memory is checked against the machine before anything is built: memory.py)
MAX_VOCAB = 1 << 20
MAX_STEPS = 100_000_000
#: torch accepts 64-bit seeds; the loop adds the step or rank to the seed
MAX_SEED = 2**63 - 1


def one_line(exc: ValidationError) -> str:
    """pydantic's errors as one readable line: ``field.path: message; …``."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


#: how the forms name a settings group
GROUP_NAMES = {"lora": "LoRA", "distill": "distillation", "data": "data", "model": "model"}


def readable_errors(exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """pydantic's errors in the forms' words, one line each: ``LoRA rank: must be at least 1``,
    ``LoRA: not JSON settings; write them as {"rank": 8, …}, or leave the field empty``.
    ``model`` (the validated class) lets a settings group that is not JSON show an example."""
    return [_readable(e, model) for e in exc.errors()]


def _readable(err: Any, model: type[BaseModel] | None) -> str:
    loc = list(err["loc"])
    names = [GROUP_NAMES.get(p, p.replace("_", " ")) if isinstance(p, str) else f"item {p + 1}" for p in loc]
    where = " ".join(names)
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        text = f"must be {words} {ctx.get(key)}"
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        text = "must be a whole number"
    elif kind in ("float_parsing", "float_type"):
        text = "must be a number"
    elif kind == "finite_number":
        text = "must be a finite number (not NaN or infinity)"
    elif kind in ("bool_parsing", "bool_type"):
        text = "must be true or false"
    elif kind == "string_too_short":
        text = "must not be empty"
    elif kind == "string_type":
        text = "must be text"
    elif kind == "literal_error":
        text = f"must be {ctx.get('expected')}"
    elif kind == "list_type":
        text = 'must be a list, such as ["a", "b"]'
    elif kind == "missing":
        text = "required"
    elif kind == "extra_forbidden":
        text = "not a known setting"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        example = _example(model, loc)
        text = ("not JSON settings" if isinstance(value, str) else "must be JSON settings") + (
            f"; write them as {example}, or leave the field empty" if example else ""
        )
    elif kind == "value_error":
        text = str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
        return f"{where}: {text}" if where else text
    else:
        text = err["msg"]
    return f"{where}: {text}" if where else text


def _example(model: type[BaseModel] | None, loc: list[Any]) -> str:
    """A JSON example of the settings group at ``loc`` (its defaults; "…" where required)."""
    import json
    import types
    import typing

    cls: Any = model
    for part in loc:
        field = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if field is None:
            return ""
        cls = field.annotation
        if typing.get_origin(cls) in (typing.Union, types.UnionType):
            cls = next((a for a in typing.get_args(cls) if a is not type(None)), None)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        return ""
    values = {
        name: "…" if f.is_required() else f.get_default(call_default_factory=True)
        for name, f in cls.model_fields.items()
    }
    return json.dumps(values, ensure_ascii=False)


class Checked(BaseModel):
    """Finite floats only: ``NaN`` or ``Infinity`` in a JSON file or ``--set`` is refused."""

    model_config = ConfigDict(allow_inf_nan=False)


#: the "format" of a checkpoint's config.json (kept here, free of torch, for the hooks)
CHECKPOINT_FORMAT = "tensor-studio-checkpoint/1"


def checkpoint_field(value: str | None, info: ValidationInfo, prefer: str) -> str | None:
    """A checkpoint field checked when its job is submitted (never while a form is typed
    in): it must name a checkpoint the job will find (``resolve_checkpoint``, files only,
    no torch), so a typo is refused before a run folder is made. An empty optional field
    (None, "") means none."""
    if value is None or (not value.strip() and info.field_name in OPTIONAL_CHECKPOINTS):
        return value

    def find(ref: str, folders: Any) -> object:
        from .checkpoint_folders import resolve_checkpoint  # lazy: it imports this module

        return resolve_checkpoint(ref, folders, prefer=prefer)

    return check_model_field(value, info, find)


#: checkpoint fields that may be left empty (no resume, no fine-tuning)
OPTIONAL_CHECKPOINTS = frozenset({"init_from", "resume"})


class ModelConfig(Checked):
    """A GPT-style decoder. ``vocab_size`` 0 means "take it from the tokenizer"."""

    n_layer: int = Field(4, ge=1, le=96, description="transformer blocks")
    n_head: int = Field(4, ge=1, le=128, description="attention heads per block")
    n_embd: int = Field(128, ge=8, le=16384, description="width (must divide by heads)")
    block_size: int = Field(64, ge=2, le=32768, description="context length in tokens")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    bias: bool = Field(True, description="biases in linear layers and LayerNorms")
    attention: str = Field("causal", description="attention type: causal, xcorr, or one a plugin adds")
    block: str = Field("pre_ln", description="block type: pre_ln, or one a plugin adds")
    xcorr_lags: int = Field(4, ge=1, le=64, description="cross-correlation window (xcorr attention)")
    vocab_size: int = Field(0, ge=0, le=MAX_VOCAB, description="0: from the tokenizer")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.n_embd % self.n_head:
            raise ValueError(f"width n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")
        return self


class DataConfig(Checked):
    """Where the text comes from and how it becomes tokens."""

    corpus: str = Field(
        "stdlib",
        min_length=1,  # "" would read the current folder
        description="'stdlib' (Python's own sources, offline), a text file, a folder, "
        "a CSV/JSON/JSONL/Parquet file, or a Hugging Face dataset saved with save_to_disk",
    )
    text_column: str = Field("text", description="column to read from tables")
    format: Literal["text", "prompt_response"] = Field(
        "text", description="text: one long stream; prompt_response: fine-tuning pairs with dynamic padding"
    )
    prompt_column: str = "prompt"
    response_column: str = "response"
    chat_template: bool = Field(
        True,
        description="prompt_response pairs from a Hugging Face model with a chat template: the prompt as "
        "the user's turn and the response as the assistant's, rendered by that template",
    )
    max_chars: int = Field(5_000_000, ge=1, le=10**10, description="read at most this many characters")
    tokenizer: Literal["char", "bpe"] = "char"
    vocab_size: int = Field(2048, ge=260, le=200_000, description="BPE vocabulary size")
    tokenizer_file: str | None = Field(None, description="use this tokenizer.json instead of training one")
    val_fraction: float = Field(0.1, gt=0.0, lt=0.9)


class LoRAConfig(Checked):
    rank: int = Field(8, ge=1, le=1024)
    alpha: float = Field(16.0, gt=0.0, le=1e6)
    targets: list[str] = Field(
        default_factory=lambda: ["attn.qkv", "attn.proj"],
        description="module name suffixes to adapt (attn.qkv, attn.proj, mlp.fc, mlp.proj)",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class DistillConfig(Checked):
    teacher: str = Field(..., description="teacher checkpoint folder (or run folder)")
    temperature: float = Field(2.0, gt=0.0, le=1e3)
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="weight of the soft-target loss; 1-alpha on the labels")

    @field_validator("teacher")
    @classmethod
    def _teacher_exists(cls, value: str, info: ValidationInfo) -> str | None:
        return checkpoint_field(value, info, "best")


class TrainParams(Checked):
    """One training run: data, model, optimiser, schedule, and what to save."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    init_from: str | None = Field(
        None, description="start from this checkpoint (fine-tuning); its model and tokenizer are used"
    )
    lora: LoRAConfig | None = Field(None, description="fine-tune low-rank adapters of init_from instead of all weights")
    distill: DistillConfig | None = None
    resume: str | None = Field(None, description="continue a killed or finished run: its id, folder or checkpoint")

    max_steps: int = Field(2000, ge=1, le=MAX_STEPS)
    batch_size: int = Field(12, ge=1, le=1 << 16)
    grad_accum: int = Field(1, ge=1, le=1 << 16, description="micro-batches per optimizer step")
    learning_rate: float = Field(1e-3, gt=0.0)
    min_lr: float = Field(1e-4, ge=0.0)
    warmup_steps: int = Field(200, ge=0, le=MAX_STEPS, description="linear warmup steps before the cosine decay")
    weight_decay: float = Field(0.1, ge=0.0, le=100.0)
    # beta1 0.8 and 200 warmup steps (nanoGPT: 0.9, 100) measured 0.02 nats better on the
    # small-batch reference workload over four seeds (BENCHMARKS.md, "Trainer")
    beta1: float = Field(0.8, ge=0.0, lt=1.0, description="AdamW momentum")
    beta2: float = Field(0.99, ge=0.0, lt=1.0)
    grad_clip: float = Field(1.0, ge=0.0, le=1e6, description="0 disables clipping")

    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    processes: int = Field(
        1,
        ge=1,
        le=64,
        description="data-parallel processes (one per GPU; on the CPU they "
        "share the cores); each draws batch_size sequences per step",
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="bf16: autocast on CPU/CUDA; fp16: CUDA with a grad scaler"
    )
    grad_checkpointing: bool = False
    compile: bool = Field(False, description="torch.compile the model (the first steps take longer)")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = Field(
        "default",
        description="reduce-overhead: CUDA graphs, for small models whose steps are launch-bound "
        "(fixed-length batches only); max-autotune: also searches kernel configurations",
    )
    seed: int = Field(1337, ge=0, le=MAX_SEED)
    allow_pickle: bool = Field(
        False, description="a Hugging Face init_from with weights only as a PyTorch pickle: load it (weights_only)"
    )

    log_interval: int = Field(10, ge=1, le=MAX_STEPS)
    eval_interval: int = Field(250, ge=1, le=MAX_STEPS)
    eval_iters: int = Field(200, ge=1, le=1_000_000)
    sample_interval: int = Field(500, ge=0, le=MAX_STEPS, description="0: no samples")
    sample_tokens: int = Field(200, ge=1, le=100_000)
    sample_prompt: str = "\n"
    temperature: float = Field(0.8, ge=0.0, le=100.0, description="0: greedy (always the likeliest token)")
    top_k: int | None = Field(200, ge=0, le=MAX_VOCAB, description="0 or empty: no top-k cut")
    checkpoint_interval: int = Field(500, ge=1, le=MAX_STEPS)
    keep_checkpoints: int = Field(2, ge=1, le=10_000, description="step checkpoints kept besides best")

    @field_validator("init_from", "resume")
    @classmethod
    def _checkpoint_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return checkpoint_field(value, info, "latest")  # as the loop resolves them

    @model_validator(mode="after")
    def _consistent(self) -> TrainParams:
        if self.lora and not self.init_from and not self.resume:
            raise ValueError("LoRA fine-tunes a saved model: set init_from to a checkpoint")
        if self.min_lr > self.learning_rate:
            raise ValueError("min_lr must not exceed learning_rate")
        if self.processes > 1 and self.device == "mps":
            raise ValueError("data-parallel processes need CUDA GPUs or the CPU, not MPS")
        if self.compile and self.compile_mode != "default" and self.grad_accum > 1:
            raise ValueError(
                f"compile_mode {self.compile_mode!r} replays CUDA graphs, which cannot accumulate "
                "gradients over micro-batches: set grad_accum to 1 or compile_mode to 'default'"
            )
        return self


class GenerateParams(Checked):
    checkpoint: str = Field(..., description="checkpoint folder, run folder or run id")
    prompt: str = "\n"
    max_new_tokens: int = Field(200, ge=1, le=100_000)
    temperature: float = Field(0.8, ge=0.0, le=100.0, description="0: greedy (always the likeliest token)")
    top_k: int | None = Field(200, ge=0, le=MAX_VOCAB, description="0 or empty: no top-k cut")
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Hugging Face models: auto is bfloat16 where the device computes it natively, else float32"
    )
    allow_pickle: bool = Field(
        False, description="a Hugging Face folder with weights only as a PyTorch pickle: load it (weights_only)"
    )

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_exists(cls, value: str, info: ValidationInfo) -> str | None:
        return checkpoint_field(value, info, "best")


class MergeParams(Checked):
    checkpoint: str = Field(..., description="a LoRA checkpoint folder, run folder or run id")
    output: str | None = Field(None, description="where to write the merged checkpoint (default: <checkpoint>-merged)")

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_exists(cls, value: str, info: ValidationInfo) -> str | None:
        return checkpoint_field(value, info, "best")

    @field_validator("output")
    @classmethod
    def _output_is_new(cls, value: str | None, info: ValidationInfo) -> str | None:
        """At submit (not while a form is typed in): an existing folder is refused before a
        run folder is made, as bad input (the job refuses it too, and never overwrites it)."""
        from pathlib import Path

        if value and submit_folders(info) is not None and Path(value).expanduser().exists():
            raise ValueError(f"{value} exists; choose another output folder (nothing was overwritten)")
        return value
