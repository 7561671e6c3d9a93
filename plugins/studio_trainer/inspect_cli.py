"""``tensor-studio inspect MODEL --text TEXT``: tokens, log-probabilities and top-k, the
logit lens and an attention summary of a text, or all of it as one JSON object.

Bad input (an unknown model, a corrupt checkpoint, weights in a pickle, empty text, text
longer than the context, --top-k out of range) is a ValueError / StudioFileError of one
line, which the CLI prints and exits 2 on, as for ``trainer generate``."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

from studio.api import CliContext

MAX_TEXT_FILE = 16 << 20


def configure(parser) -> None:
    parser.add_argument("model", help="a run id, checkpoint folder or quantized folder (or studio/<that>)")
    text = parser.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the text to inspect")
    text.add_argument("--text-file", type=Path, help="read the text from this file (UTF-8)")
    parser.add_argument("--top-k", type=int, default=5, help="alternatives per position, 1 to 50 (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    parser.add_argument("--save", type=Path, metavar="DIR", help="also save the inspection (safetensors + JSON)")


def run(args, ctx: CliContext) -> int:
    from .inspect import check_top_k, inspect_text
    from .inspect.inspection import attention_summary

    check_top_k(args.top_k)  # before anything is loaded
    text = args.text if args.text is not None else _read_text(args.text_file)
    inspection = inspect_text(args.model, text, top_k=args.top_k, folders=ctx.folders)
    summary = attention_summary(inspection)
    if args.save is not None:
        path = inspection.save(args.save)
        print(f"# saved {path}", file=sys.stderr)
    if args.json:
        data = inspection.to_json(args.top_k)
        data["attention_summary"] = summary
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(_tables(inspection, args.top_k, summary))
    return 0


def _read_text(path: Path) -> str:
    """A regular file only (a FIFO would block, /dev/zero never ends), read no further than
    the limit whatever its size says (a file can grow while it is read)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ValueError(f"--text-file {path}: not a regular file")
        with path.open("rb") as fh:
            data = fh.read(MAX_TEXT_FILE + 1)
        if len(data) > MAX_TEXT_FILE:
            raise ValueError(f"--text-file {path}: larger than {MAX_TEXT_FILE >> 20} MB")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise ValueError(f"--text-file {path}: no such file") from None
    except UnicodeDecodeError:
        raise ValueError(f"--text-file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"--text-file {path}: {exc.strerror or exc}") from None


def _shown(token: str, width: int = 8) -> str:
    text = repr(token)[1:-1]
    return text if len(text) <= width else text[: width - 1] + "…"


def _tables(inspection, top_k: int, summary: list[dict]) -> str:
    lines = [f"# {inspection.model}: {inspection.T} tokens, {inspection.n_layer} layers, {inspection.n_head} heads"]
    lines += [f"# unavailable: {reason}" for reason in inspection.unavailable]
    lines.append("")
    lines.append(f"{'pos':>4}  {'token':<8} {'logprob':>8} {'entropy':>7}  top-{top_k} next")
    for t in range(inspection.T):
        lp = inspection.logprobs[t]
        top = "  ".join(
            f"{_shown(inspection.token(i), 6)} {v:.2f}"
            for i, v in zip(inspection.top_ids[t, :top_k], inspection.top_logprobs[t, :top_k], strict=True)
        )
        lp_text = "—" if lp != lp else f"{lp:.3f}"
        lines.append(f"{t:>4}  {_shown(inspection.tokens[t]):<8} {lp_text:>8} {inspection.entropy[t]:>7.3f}  {top}")
    lines.append("")
    layers = inspection.lens_top_ids.shape[0]
    lines.append("logit lens: the top next token per layer (the actual next token's rank); layer 0 = embeddings")
    lines.append(f"{'pos':>4}  {'token':<8} " + " ".join(f"{'L' + str(layer):<12}" for layer in range(layers)))
    for t in range(inspection.T):
        cells = []
        for layer in range(layers):
            rank = int(inspection.lens_target_rank[layer, t])
            top = _shown(inspection.token(inspection.lens_top_ids[layer, t]), 6)
            cells.append(f"{top + (f' ({rank})' if rank >= 0 else ''):<12}")
        lines.append(f"{t:>4}  {_shown(inspection.tokens[t]):<8} " + " ".join(cells))
    lines.append("")
    if summary:
        lines.append(
            "attention: per head, the token attended most on average, the weight on the previous token, entropy"
        )
        for row in summary:
            lines.append(
                f"  L{row['layer']} H{row['head']}: {_shown(row['top_token'])!s:<8} at {row['top_position']:>4} "
                f"({row['top_weight']:.2f})  previous {row['previous_token_weight']:.2f}  "
                f"entropy {row['entropy']:.2f}"
            )
    else:
        lines.append("attention: unavailable for this attention type")
    return "\n".join(lines)
