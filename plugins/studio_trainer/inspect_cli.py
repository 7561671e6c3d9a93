"""``tensor-studio inspect MODEL --text TEXT``: tokens, log-probabilities and top-k, the
logit lens and an attention summary of a text, or all of it as one JSON object.

Each position describes one step: the token, its log-probability, and the top-k
alternatives and entropy of the distribution it was drawn from (given the tokens before
it; position 0 has none), as the Inspector shows them; the JSON's ``next`` is the
prediction after the last token. Whitespace tokens are shown visibly (␣ space, ↵ newline,
⇥ tab) in the tables.

Bad input (an unknown model, a corrupt checkpoint, weights in a pickle, empty text, text
longer than the context without --last, --top-k out of range) is a ValueError /
StudioFileError of one line, which the CLI prints and exits 2 on, as for ``trainer generate``."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

from studio.api import CliContext

MAX_TEXT_FILE = 16 << 20


def configure(parser) -> None:
    parser.add_argument(
        "model",
        help="a run id, checkpoint folder or quantized folder (or studio/<that>), or a Hugging Face model folder "
        "(or hf/<folder>)",
    )
    text = parser.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the text to inspect")
    text.add_argument("--text-file", type=Path, help="read the text from this file (UTF-8)")
    parser.add_argument(
        "--top-k",
        type=int,
        default=5,
        help="alternatives per position, 1 to 50 (default 5): the distribution each token was drawn from "
        "(given the tokens before it; none at position 0)",
    )
    parser.add_argument(
        "--last",
        action="store_true",
        help="a text longer than the model's context: inspect its last context-long window "
        "(what generation sees) instead of refusing it",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    parser.add_argument("--save", type=Path, metavar="DIR", help="also save the inspection (safetensors + JSON)")


def run(args, ctx: CliContext) -> int:
    from .inspect import check_top_k, inspect_text
    from .inspect.inspection import attention_summary

    check_top_k(args.top_k)  # before anything is loaded
    text = args.text if args.text is not None else _read_text(args.text_file)
    inspection = inspect_text(args.model, text, top_k=args.top_k, folders=ctx.folders, last=args.last)
    if inspection.window_note():
        print(f"# {inspection.window_note()}", file=sys.stderr)
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


VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def _shown(token: str, width: int = 8) -> str:
    """A token as a table cell: whitespace visible (a space is '␣', not a blank), other
    unprintable characters escaped, cut at ``width``."""
    text = "".join(VISIBLE.get(ch) or (ch if ch.isprintable() else repr(ch)[1:-1]) for ch in token)
    return text if len(text) <= width else text[: width - 1] + "…"


def _tables(inspection, top_k: int, summary: list[dict]) -> str:
    lines = [f"# {inspection.model}: {inspection.T} tokens, {inspection.n_layer} layers, {inspection.n_head} heads"]
    lines += [f"# unavailable: {reason}" for reason in inspection.unavailable]
    lines.append("")
    lines.append("# each row: the token, its log-probability, the entropy and top alternatives of its step")
    lines.append(f"{'pos':>4}  {'token':<8} {'logprob':>8} {'entropy':>7}  top-{top_k} (the step that produced it)")
    for t in range(inspection.T + 1):
        top = "  ".join(
            f"{_shown(token, 6)} {'—' if lp is None else f'{lp:.2f}'}"
            for token, lp in inspection.alternatives(t, top_k)
        )
        if t == inspection.T:
            lines.append(f"{'next':>4}  {'':<8} {'':>8} {inspection.entropy[-1]:>7.3f}  {top}")
            break
        lp = inspection.logprobs[t]
        lp_text = "—" if lp != lp else f"{lp:.3f}"
        entropy = "—" if t == 0 else f"{inspection.entropy[t - 1]:.3f}"
        lines.append(f"{t:>4}  {_shown(inspection.tokens[t]):<8} {lp_text:>8} {entropy:>7}  {top}")
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
