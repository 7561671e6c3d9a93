"""A Hugging Face model folder on disk: what it is, and whether it may be opened.

No torch, no transformers: the model picker lists these folders and a job's params are
checked against them before anything heavy is imported. A Hugging Face causal LM folder
holds a ``config.json`` with a ``model_type`` (and no Tensor Studio ``format``), weights
in ``model.safetensors`` or shards named by ``model.safetensors.index.json``, and a
tokenizer (``tokenizer.json``, with a chat template in ``tokenizer_config.json`` or
``chat_template.jinja``).

What is refused, and why (:func:`check_folder`):

* weights only as a PyTorch pickle (``pytorch_model.bin``…): unpickling can run code. They
  load only with an explicit opt-in (``allow_pickle``), and then with ``weights_only``;
* a config that needs ``trust_remote_code`` (``auto_map``): the studio never runs a
  folder's Python code;
* a folder with a config but no weights (a hub id cached without its files): nothing is
  ever downloaded, so the message names the hub id to fetch by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.api import PICKLE_SUFFIXES, StudioFileError

#: a studio checkpoint's config.json says ``"format": …``; a Hugging Face one never does
STUDIO_FORMAT_KEY = "format"
INDEX = "model.safetensors.index.json"
#: the families whose hook points are known (``families.py``); others load if they follow
#: the common layout (``model.layers[i].self_attn.o_proj``, ``mlp.down_proj``, ``model.norm``)
KNOWN_FAMILIES = ("gpt2", "llama", "qwen2", "qwen3", "mistral", "smollm3")
#: files a tokenizer may be made of: copied with the model by the quantizer and LoRA merge
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)


class HFFolderError(StudioFileError):
    """A Hugging Face folder that cannot be opened; the message says why and what to do."""


@dataclass(frozen=True)
class FolderInfo:
    """What the model picker shows of a folder, read from config.json and ``stat``."""

    path: Path
    family: str  # config.json's model_type
    architecture: str  # its architectures[0], e.g. LlamaForCausalLM
    dtype: str  # the stored dtype config.json names ("bfloat16"), or "" when it names none
    size_bytes: int  # the weights' files
    modified: float
    n_layer: int | None
    hidden: int | None
    weights: tuple[Path, ...]  # model*.safetensors files; empty when only pickles are there
    pickles: tuple[Path, ...]
    remote_code: bool  # config.json has an auto_map: the folder wants its own Python code
    name_or_path: str  # config.json's _name_or_path, the hub id it came from (may be "")
    stored: Path | None = None  # weights another plugin wrote (quantized): the file holding them

    @property
    def detail(self) -> str:
        shape = f"{self.n_layer} layers × {self.hidden}" if self.n_layer and self.hidden else ""
        return " · ".join(p for p in (self.family, shape, self.dtype) if p)


def read_config(folder: Path) -> dict[str, Any] | None:
    """config.json as a dict, or None when the folder has none or it is not JSON."""
    path = Path(folder) / "config.json"
    try:
        if not path.is_file() or path.stat().st_size > 4 << 20:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def is_hf_folder(folder: Path) -> bool:
    """A folder whose config.json is a Hugging Face config (a ``model_type``, no studio format)."""
    config = read_config(folder)
    return config is not None and _is_hf_config(config)


def _is_hf_config(config: dict[str, Any]) -> bool:
    return isinstance(config.get("model_type"), str) and STUDIO_FORMAT_KEY not in config


def info(folder: Path) -> FolderInfo | None:
    """The folder's :class:`FolderInfo`, or None when it is not a Hugging Face causal LM
    folder (no config, a studio checkpoint, an encoder such as BERT)."""
    folder = Path(folder)
    config = read_config(folder)
    if config is None or not _is_hf_config(config):
        return None
    architectures = config.get("architectures") or []
    architecture = str(architectures[0]) if isinstance(architectures, list) and architectures else ""
    if architecture and not architecture.endswith(("ForCausalLM", "LMHeadModel")):
        return None  # an encoder, a classifier: not a model that generates text
    try:
        files = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return None
    weights = tuple(sorted(p for p in files if p.suffix == ".safetensors" and p.name.startswith("model")))
    pickles = tuple(sorted(p for p in files if p.suffix in PICKLE_SUFFIXES and not p.name.startswith("training")))
    stored = stored_weights(folder)
    stats = [p.stat() for p in (weights or ([stored] if stored else []) or pickles)]
    dtype = config.get("torch_dtype") or config.get("dtype") or ""
    return FolderInfo(
        path=folder,
        family=str(config.get("model_type")),
        architecture=architecture,
        dtype=str(dtype) if isinstance(dtype, str) else "",
        size_bytes=sum(s.st_size for s in stats),
        modified=max((s.st_mtime for s in stats), default=0.0),
        n_layer=_int(config.get("num_hidden_layers", config.get("n_layer"))),
        hidden=_int(config.get("hidden_size", config.get("n_embd"))),
        weights=weights,
        pickles=pickles,
        remote_code=bool(config.get("auto_map")),
        name_or_path=str(config.get("_name_or_path") or ""),
        stored=stored,
    )


def stored_weights(folder: Path) -> Path | None:
    """Weights kept in another plugin's form (a quantized folder: ``studio_weight_readers``),
    as the file its reader marks them by; None when there are none."""
    from studio.api import contributions

    for reader in contributions("studio_weight_readers"):
        marker = Path(folder) / reader.marker
        if marker.is_file():
            weights = [p for p in Path(folder).glob("*.safetensors") if p.is_file()]
            return max(weights, key=lambda p: p.stat().st_size) if weights else marker
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_folder(folder: Path, allow_pickle: bool = False) -> FolderInfo:
    """The folder's info when it may be opened; else :class:`HFFolderError`, one line that
    says why and how to go on. Reads config.json and ``stat``s files only."""
    folder = Path(folder)
    found = info(folder)
    if found is None:
        config = read_config(folder)
        if config is not None and _is_hf_config(config):
            raise HFFolderError(
                f"{folder} holds a {config.get('model_type')} model that is not a causal language model "
                f"({(config.get('architectures') or ['no architecture'])[0]}): it cannot generate text"
            )
        raise HFFolderError(f"{folder} is not a Hugging Face model folder (no config.json with a model_type)")
    if found.remote_code:
        raise HFFolderError(
            f"{folder}: its config.json maps the model to Python code in the folder (auto_map), which "
            "Tensor Studio never runs (trust_remote_code stays off); use a model whose architecture "
            "transformers ships, or convert this one"
        )
    for name in ("model.safetensors", INDEX, *TOKENIZER_FILES):
        path = folder / name
        if (path.exists() or path.is_symlink()) and not path.is_file():
            raise HFFolderError(
                f"{path} is not a regular file (a folder, a pipe or a broken link): refusing to read it"
            )
    if found.weights:
        _check_index(folder, found)
        return found
    if found.stored is not None:
        return found
    if found.pickles and allow_pickle:
        return found
    if found.pickles:
        raise HFFolderError(
            f"{found.pickles[0]} is a PyTorch pickle, which Tensor Studio does not load by default "
            "(unpickling can run code): convert it to safetensors, or allow pickled weights "
            "(--allow-pickle; loaded with weights_only)"
        )
    hub = f" (it names {found.name_or_path!r}: download that model's files into the folder yourself)"
    raise HFFolderError(
        f"{folder} has a config.json but no weights{hub if found.name_or_path else ''}; "
        "Tensor Studio never downloads models"
    )


def _check_index(folder: Path, found: FolderInfo) -> None:
    """Sharded weights: every shard the index names must be in the folder."""
    index = folder / INDEX
    if not index.exists():
        return
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        shards = set(data["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise HFFolderError(f"{index} is not a readable weight index (expected a weight_map)") from None
    outside = sorted(str(s) for s in shards if not isinstance(s, str) or Path(s).name != s or "\\" in s)
    if outside:  # transformers joins the name to the folder: ../x or /x would be read from elsewhere
        raise HFFolderError(f"{index} names {outside[0]!r} as a shard, not a file in the folder: refusing it")
    missing = sorted(s for s in shards if not (folder / s).is_file())
    if missing:
        raise HFFolderError(f"{folder}: the weight index names {missing[0]}, which is not in the folder")


def chat_template_of(folder: Path) -> str | None:
    """The folder's chat template (``chat_template.jinja``, else tokenizer_config.json's
    ``chat_template``), or None. Only read here; transformers renders it in a sandbox."""
    folder = Path(folder)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        try:
            return jinja.read_text(encoding="utf-8")
        except OSError:
            return None
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    template = config.get("chat_template") if isinstance(config, dict) else None
    return template if isinstance(template, str) and template else None
