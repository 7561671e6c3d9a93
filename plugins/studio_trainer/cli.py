"""``tensor-studio trainer …``: model summary, sampling, tokenizers and model parts.

Training itself is a job like any other: ``tensor-studio jobs run trainer.train --set …``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn, TypeVar

from pydantic import BaseModel

from studio.api import CliContext, Folders

from .config import MAX_SEED


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="trainer_action", required=True, metavar="ACTION")
    summary = sub.add_parser("summary", help="parameters per layer, FLOPs per token, memory of a model config")
    summary.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting, e.g. n_layer=6 (VALUE parsed as JSON if it can be)",
    )
    summary.add_argument("--vocab-size", type=int, default=65)
    summary.add_argument("--batch-size", type=int, default=12)
    summary.add_argument("--grad-checkpointing", action="store_true", help="memory with gradient checkpointing")
    summary.add_argument("--json", action="store_true")
    gen = sub.add_parser("generate", help="sample from a checkpoint (folder, run folder or run id)")
    gen.add_argument("checkpoint")
    gen.add_argument("--prompt", default="\n")
    gen.add_argument("--max-new-tokens", type=int, default=200, help="1 to 100000 (default 200)")
    gen.add_argument("--temperature", type=float, default=0.8, help="0: greedy, always the likeliest token")
    gen.add_argument("--top-k", type=int, default=200, help="sample among the k likeliest tokens; 0: all")
    gen.add_argument("--seed", type=int, default=None, help=f"0 to {MAX_SEED}")
    gen.add_argument("--device", default="auto", metavar="{auto,cpu,cuda,mps}")
    gen.add_argument(
        "--dtype",
        default="auto",
        metavar="{auto,float32,bfloat16,float16}",
        help="Hugging Face models: auto is bfloat16 where the device computes it natively, else float32",
    )
    gen.add_argument(
        "--allow-pickle",
        action="store_true",
        help="a Hugging Face folder with weights only as a PyTorch pickle: load it (weights_only)",
    )
    tok = sub.add_parser("tokenize", help="show how a text splits into tokens")
    tok.add_argument("tokenizer", help="tokenizer.json, or a checkpoint / run folder")
    tok.add_argument("text")
    sub.add_parser("parts", help="attention types and blocks models can use (built-in and from plugins)")
    tr = sub.add_parser(
        "torchrun",
        help="one process of a data-parallel run that torchrun starts (several GPUs "
        "or machines): torchrun --nproc-per-node N --no-python tensor-studio trainer torchrun …",
        description=TORCHRUN_HELP,
    )
    tr.add_argument("--params", type=Path, help="the run's parameters (JSON), as for jobs run")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one setting, as for jobs run")
    tr.add_argument("--quiet", action="store_true", help="no progress bar on rank 0")


TORCHRUN_HELP = """\
Train as one process of a torchrun launch. Rank 0 runs the training as a studio job in
this workspace (run folder, events, checkpoints, a progress bar; Ctrl-C cancels and
saves); the other ranks train beside it and write nothing. Every machine needs the corpus
(and, to resume, the checkpoint) at the same path. Example, two GPUs on one machine:

  torchrun --nproc-per-node 2 --no-python tensor-studio trainer torchrun --params run.json
"""


def run(args, ctx: CliContext) -> int:
    match args.trainer_action:
        case "summary":
            return _summary(args)
        case "generate":
            return _generate(args, ctx.folders)
        case "tokenize":
            return _tokenize(args, ctx.folders)
        case "parts":
            return _parts()
        case "torchrun":
            return _torchrun(args, ctx)
    raise ValueError(f"no such trainer action: {args.trainer_action}")


def _summary(args) -> int:
    """Figures of a config, from the model built on the meta device: nothing is allocated,
    so a model far larger than the machine can be summarised too."""
    from studio.api import parse_assignments

    from .config import ModelConfig
    from .model.summary import summarize
    from .train.memory import meta_model

    if not 1 <= args.batch_size <= 1 << 16:
        raise ValueError(f"--batch-size: must be 1 to {1 << 16}, not {args.batch_size}")
    if args.vocab_size < 1:
        raise ValueError(f"--vocab-size: must be at least 1, not {args.vocab_size}")
    sets = parse_assignments(args.set)
    unknown = [key for key in sets if key not in ModelConfig.model_fields]
    if unknown:  # a typo must not pass silently (the summary would describe another model)
        raise ValueError(
            f"--set {unknown[0]}: no such model setting (the settings: {', '.join(ModelConfig.model_fields)})"
        )
    config = _validated(ModelConfig, {**sets, "vocab_size": args.vocab_size}, {"vocab_size": "--vocab-size"})
    summary = summarize(meta_model(config), args.batch_size, args.grad_checkpointing)
    print(json.dumps(summary.as_dict(), indent=2) if args.json else summary.table())
    return 0


GENERATE_FLAGS = {
    "max_new_tokens": "--max-new-tokens",
    "temperature": "--temperature",
    "top_k": "--top-k",
    "seed": "--seed",
    "device": "--device",
    "dtype": "--dtype",
    "prompt": "--prompt",
    "checkpoint": "checkpoint",
}


def _generate(args, folders: Folders) -> int:
    """The flags are checked as the generate job's parameters before anything is loaded;
    a run id names a run of ``folders`` (the workspace's)."""
    from .config import GenerateParams

    p = _validated(
        GenerateParams,
        {
            "checkpoint": args.checkpoint,
            "prompt": args.prompt,
            "seed": args.seed,
            "max_new_tokens": args.max_new_tokens,
            "temperature": args.temperature,
            "top_k": args.top_k,
            "device": args.device,
            "dtype": args.dtype,
            "allow_pickle": args.allow_pickle,
        },
        GENERATE_FLAGS,
    )
    from .train.checkpoint import load_checkpoint, resolve_checkpoint
    from .train.device import pick_device
    from .train.memory import is_out_of_memory
    from .train.sampling import sample_text

    folder = resolve_checkpoint(p.checkpoint, folders, prefer="best")
    device = pick_device(p.device)
    try:
        model, tokenizer, config = load_checkpoint(
            folder, device, generate=True, dtype=p.dtype, allow_pickle=p.allow_pickle
        )
        print(f"# {folder}" + (f" ({config['loaded_as']})" if "loaded_as" in config else ""), file=sys.stderr)
        sys.stdout.write(p.prompt)
        sample_text(
            model,
            tokenizer,
            p.prompt,
            p.max_new_tokens,
            p.temperature,
            p.top_k,
            seed=p.seed,
            device=device,
            on_text=lambda piece: (sys.stdout.write(piece), sys.stdout.flush()),
        )
    except (RuntimeError, MemoryError) as exc:
        if is_out_of_memory(exc):
            raise ValueError(
                f"ran out of memory generating from {folder} on {device}; close other programs, "
                "or use a machine (or --device) with more memory"
            ) from None
        raise
    sys.stdout.write("\n")
    return 0


def _tokenize(args, folders: Folders) -> int:
    from .data.tokenizer import load_tokenizer
    from .train.checkpoint import resolve_checkpoint

    path = Path(args.tokenizer)
    try:
        is_file = path.is_file()
    except OSError:  # a name too long for a path: resolve_checkpoint says so in one line
        is_file = False
    if not is_file:  # a checkpoint folder, run folder, quantized folder or run id: the model
        # Generate, the Tokenizer view and every model field use (the best checkpoint)
        path = resolve_checkpoint(args.tokenizer, folders, prefer="best") / "tokenizer.json"
    tokenizer = _hf_tokenizer(path.parent) or load_tokenizer(path)
    pieces = tokenizer.pieces(args.text)
    for token_id, piece in pieces:
        print(f"{token_id:>7}  {piece!r}")
    print(f"{len(pieces)} tokens for {len(args.text)} characters ({tokenizer.kind}, vocabulary {tokenizer.vocab_size})")
    unknown = tokenizer.unknown(args.text)
    if unknown:
        print(f"not in the vocabulary (dropped): {''.join(sorted(unknown))!r}")
    return 0


def _hf_tokenizer(folder: Path):
    """A Hugging Face folder's own tokenizer (transformers reads it), or None for other folders."""
    from .hf.folder import HFFolderError, is_hf_folder

    if not is_hf_folder(folder):
        return None
    from .hf.tokenizer import HFTokenizer

    try:
        return HFTokenizer.load(folder)
    except (OSError, ValueError) as exc:
        raise HFFolderError(f"{folder}: its tokenizer could not be loaded: {exc}") from None


def _parts() -> int:
    from .model.registry import parts

    for part in parts():
        print(f"{part.kind:<10} {part.id:<12} {part.title} — {part.description}  [{part.factory}]")
    return 0


def _torchrun(args, ctx: CliContext) -> int:
    """Rank 0: the run as a studio job (its worker inherits torchrun's environment and joins
    the group from there). Other ranks: the same ``train`` in this process, reporting nothing."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ValueError(
            "this command is one process of a torchrun launch; start it with torchrun, e.g. "
            "torchrun --nproc-per-node 2 --no-python tensor-studio trainer torchrun --params run.json"
        )
    from .train.launch import TORCHRUN

    params = ctx.job_params("trainer.train", args.params, args.set)
    os.environ[TORCHRUN] = "1"
    rank = int(os.environ["RANK"])
    if rank == 0:
        return ctx.run_job("trainer.train", params, quiet=args.quiet)
    return _train_beside_rank0(rank, params, ctx.folders)


def _train_beside_rank0(rank: int, params: dict, folders: Folders) -> NoReturn:
    from studio.api import JobCancelled

    from .config import TrainParams
    from .train.launch import QuietContext
    from .train.loop import TrainingError, train

    p = TrainParams.model_validate(params)  # ctx.job_params checked them already
    ctx = QuietContext("torchrun", folders.run_dir(f"torchrun-rank-{rank}"), rank, folders.workspace)

    def cancel(*_) -> None:  # Ctrl-C (torchrun passes it on): every rank stops at the next log step, rank 0 saves
        ctx.cancelled = True

    signal.signal(signal.SIGINT, cancel)
    code = 0
    try:  # the run folder is rank 0's; this rank only reads from the workspace (a checkpoint to resume)
        train(p, ctx)
    except JobCancelled:
        code = 130
    except TrainingError as exc:
        print(f"error (rank {rank}): {exc}", file=sys.stderr)
        code = 1
    # Leave at once, as the studio's own ranks do (launch.py): nothing is left to write, and
    # tearing a gloo group down while the other ranks close theirs can abort a process.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


Params = TypeVar("Params", bound=BaseModel)


def _validated(model: type[Params], values: dict, flags: dict[str, str] | None = None) -> Params:
    """``model.model_validate(values)``, with pydantic's errors as one readable line that
    names the command-line flag (``flags``: field → flag) where there is one."""
    from pydantic import ValidationError

    def where(loc: tuple) -> str:
        return (flags or {}).get(str(loc[0]) if loc else "", ".".join(map(str, loc)) or "value")

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{where(e['loc'])}: {e['msg']}" for e in exc.errors())) from None
