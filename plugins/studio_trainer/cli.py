"""``tensor-studio trainer …``: model summary, sampling, tokenizers and model parts.

Training itself is a job like any other: ``tensor-studio jobs run trainer.train --set …``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="trainer_action", required=True, metavar="ACTION")
    summary = sub.add_parser("summary", help="parameters per layer, FLOPs per token, memory of a model config")
    summary.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="a model setting, e.g. n_layer=6 (VALUE parsed as JSON if it can be)")
    summary.add_argument("--vocab-size", type=int, default=65)
    summary.add_argument("--batch-size", type=int, default=12)
    summary.add_argument("--json", action="store_true")
    gen = sub.add_parser("generate", help="sample from a checkpoint (folder, run folder or run id)")
    gen.add_argument("checkpoint")
    gen.add_argument("--prompt", default="\n")
    gen.add_argument("--max-new-tokens", type=int, default=200)
    gen.add_argument("--temperature", type=float, default=0.8)
    gen.add_argument("--top-k", type=int, default=200)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--device", default="auto")
    tok = sub.add_parser("tokenize", help="show how a text splits into tokens")
    tok.add_argument("tokenizer", help="tokenizer.json, or a checkpoint / run folder")
    tok.add_argument("text")
    sub.add_parser("parts", help="attention types and blocks models can use (built-in and from plugins)")


def run(args) -> int:
    return {"summary": _summary, "generate": _generate, "tokenize": _tokenize, "parts": _parts}[args.trainer_action](args)


def _summary(args) -> int:
    from pydantic import ValidationError

    from studio.api import parse_assignments

    from .config import ModelConfig
    from .model.gpt import GPT
    from .model.summary import summarize

    try:
        config = ModelConfig(**{**parse_assignments(args.set), "vocab_size": args.vocab_size})
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    summary = summarize(GPT(config), args.batch_size)
    print(json.dumps(summary.as_dict(), indent=2) if args.json else summary.table())
    return 0


def _workspace_runs(args) -> Path | None:
    workspace = getattr(args, "workspace", None)
    return Path(workspace) / "runs" if workspace else None


def _generate(args) -> int:
    from .train.checkpoint import load_checkpoint, resolve_checkpoint
    from .train.device import pick_device
    from .train.sampling import sample_text

    folder = resolve_checkpoint(args.checkpoint, _workspace_runs(args), prefer="best")
    device = pick_device(args.device)
    model, tokenizer, _ = load_checkpoint(folder, device)
    print(f"# {folder}", file=sys.stderr)
    sys.stdout.write(args.prompt)
    sample_text(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k,
                seed=args.seed, device=device, on_text=lambda piece: (sys.stdout.write(piece), sys.stdout.flush()))
    sys.stdout.write("\n")
    return 0


def _tokenize(args) -> int:
    from .data.tokenizer import load_tokenizer
    from .train.checkpoint import resolve_checkpoint

    path = Path(args.tokenizer)
    if not path.is_file():  # a checkpoint folder, run folder or run id
        path = resolve_checkpoint(args.tokenizer, _workspace_runs(args)) / "tokenizer.json"
    tokenizer = load_tokenizer(path)
    pieces = tokenizer.pieces(args.text)
    for token_id, piece in pieces:
        print(f"{token_id:>7}  {piece!r}")
    print(f"{len(pieces)} tokens for {len(args.text)} characters ({tokenizer.kind}, vocabulary {tokenizer.vocab_size})")
    unknown = tokenizer.unknown(args.text)
    if unknown:
        print(f"not in the vocabulary (dropped): {''.join(sorted(unknown))!r}")
    return 0


def _parts(args) -> int:
    from .model.registry import parts

    for part in parts():
        print(f"{part.kind:<10} {part.id:<12} {part.title} — {part.description}  [{part.factory}]")
    return 0
