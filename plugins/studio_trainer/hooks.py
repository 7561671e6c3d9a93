"""What the studio sees of the trainer plugin: its contributions (public API only; nothing
heavy imported here)."""

from __future__ import annotations

from pathlib import Path

from studio.api import (
    CliCommand,
    JobKind,
    LLMProvider,
    MenuAction,
    ModelLoader,
    ModelPart,
    ModelSource,
    OpenAction,
    PanelSpec,
    PluginInfo,
    Span,
    hookimpl,
)

from .checkpoint_folders import is_checkpoint
from .config import GenerateParams, MergeParams, TrainParams

DEVICES = ("cpu", "cuda", "mps")


@hookimpl
def studio_plugin_info() -> PluginInfo:
    return PluginInfo(
        name="Trainer",
        version="0.1.0",
        description="Train and fine-tune small GPT-style language models (LoRA, distillation), "
        "with live loss curves, samples and exact resume.",
    )


@hookimpl
def studio_job_kinds() -> list[JobKind]:
    return [
        JobKind(
            "trainer.train",
            "Train a language model",
            TrainParams,
            "studio_trainer.jobs:train",
            description="Pretrain, fine-tune (full or LoRA), distill or resume a GPT-style model.",
            devices=DEVICES,
        ),
        JobKind(
            "trainer.generate",
            "Generate text from a checkpoint",
            GenerateParams,
            "studio_trainer.jobs:generate",
            description="Sample a continuation of a prompt.",
            devices=DEVICES,
        ),
        JobKind(
            "trainer.merge_lora",
            "Merge LoRA adapters",
            MergeParams,
            "studio_trainer.jobs:merge_lora",
            description="Fold a LoRA checkpoint into plain weights.",
        ),
    ]


@hookimpl
def studio_panels() -> list[PanelSpec]:
    return [
        PanelSpec("trainer:train", "Trainer", "studio_trainer.qt.train_panel:create", area="left"),
        PanelSpec(
            "trainer:samples", "Samples", "studio_trainer.qt.samples_panel:create", area="bottom", consumes=(Span,)
        ),
        PanelSpec(
            "trainer:generate", "Generate", "studio_trainer.qt.generate_panel:create", area="right", visible=False
        ),
        PanelSpec("trainer:tokens", "Tokenizer", "studio_trainer.qt.tokens_panel:create", area="right", visible=False),
        # tall views (attention maps, the code) want height more than width: the right side
        PanelSpec(
            "trainer:inspector", "Inspector", "studio_trainer.qt.inspector_panel:create", area="right", visible=False
        ),
    ]


@hookimpl
def studio_model_loaders() -> list[ModelLoader]:
    return [
        ModelLoader("trainer.gpt", "Studio GPT checkpoint", "studio_trainer.loader:load"),
        ModelLoader("trainer.hf", "Hugging Face causal LM folder", "studio_trainer.hf.measure:load"),
    ]


@hookimpl
def studio_model_parts() -> list[ModelPart]:
    from .model.registry import BUILTIN_PARTS

    return list(BUILTIN_PARTS)


@hookimpl
def studio_llm_providers() -> list[LLMProvider]:
    return [
        LLMProvider(
            "studio-local",
            "Studio checkpoints (local, in-process)",
            "studio/",
            "studio_trainer.provider:completion_function",
            model_refs=True,  # studio/<run id or folder>: the model picker lists them
        ),
        LLMProvider(
            "hf-local",
            "Hugging Face folders (local, in-process, chat template applied)",
            "hf/",
            "studio_trainer.hf.provider:completion_function",
            model_refs=True,  # hf/<folder>: the picker lists the workspace's and the cache's folders
        ),
    ]


@hookimpl
def studio_commands() -> list[CliCommand | MenuAction]:
    return [
        CliCommand(
            "trainer",
            "model summary, sampling and tokenizers of the trainer",
            "studio_trainer.cli:configure",
            "studio_trainer.cli:run",
        ),
        CliCommand(
            "inspect",
            "tokens, log-probabilities, the logit lens and attention of a text under a model",
            "studio_trainer.inspect_cli:configure",
            "studio_trainer.inspect_cli:run",
        ),
        # the first step on the home page: the Trainer, ready to train a small model
        MenuAction("trainer.start", "Train a model", "studio_trainer.qt.train_panel:train_a_model", home=True),
    ]


@hookimpl
def studio_open_path(path: Path) -> OpenAction | None:
    path = Path(path)
    in_checkpoint = path.is_file() and path.name in ("model.safetensors", "config.json", "tokenizer.json")
    folder = path.parent if in_checkpoint else path
    if folder.is_dir():
        hf = _hf_model(folder)
        if hf is not None:
            return OpenAction(description=f"sample from this Hugging Face model ({hf})", panel="trainer:generate")
        if is_checkpoint(folder) and not _is_hf(folder):  # an encoder's folder (BERT) generates nothing
            return OpenAction(description="sample from this checkpoint", panel="trainer:generate")
    if path.is_file() and path.name == "tokenizer.json":
        return OpenAction(description="show how text splits into tokens", panel="trainer:tokens")
    if (folder / INSPECTION_JSON).is_file() or (path.name == INSPECTION_JSON and path.is_file()):
        return OpenAction(description="show this saved inspection", panel="trainer:inspector")
    if path.suffix == ".json" and path.is_file() and _local_token_record(path):
        return OpenAction(
            description="inspect this model call (tokens, attention, logit lens)", panel="trainer:inspector"
        )
    return None


INSPECTION_JSON = "inspection.json"  # what a saved inspection folder holds
TOKEN_RECORD = "studio.token-record/1"
HEADER_BYTES = 1 << 20  # a token record larger than this is judged by its first bytes only


def _hf_model(folder: Path) -> str | None:
    """The family and dtype of the Hugging Face causal LM ``folder`` is (or, for a hub cache's
    ``models--org--name``, whose snapshot it stands for), else None. Reads config.json only."""
    from .hf.folder import info
    from .hf.listing import resolve

    try:
        model = resolve(folder)
        found = info(model) if model is not None else None
    except OSError:
        return None
    return found.detail if found is not None else None


def _is_hf(folder: Path) -> bool:
    from .hf.folder import is_hf_folder

    return is_hf_folder(folder)


LOCAL_PREFIXES = ("studio/", "hf/")  # model strings this plugin runs in-process: the Inspector recomputes them


def _local_token_record(path: Path) -> bool:
    """A token record (``studio.api.TokenRecord``'s JSON) of a local model (``studio/…``, ``hf/…``):
    only the Inspector can recompute it. Reads at most ``HEADER_BYTES``."""
    import json
    import re

    try:
        with path.open("rb") as file:
            head = file.read(HEADER_BYTES + 1)
    except OSError:
        return False
    if len(head) <= HEADER_BYTES:
        try:
            data = json.loads(head)
        except (ValueError, RecursionError):  # RecursionError: JSON nested 100,000 deep
            return False
        return (
            isinstance(data, dict)
            and data.get("format") == TOKEN_RECORD
            and str(data.get("model", "")).startswith(LOCAL_PREFIXES)
        )
    text = head.decode("utf-8", "replace")  # a huge record: its format and model fields, wherever they are
    return f'"{TOKEN_RECORD}"' in text and re.search(r'"model"\s*:\s*"(?:studio|hf)/', text) is not None


@hookimpl
def studio_model_sources() -> list[ModelSource]:
    """Trained runs in the model picker; a training run's id or folder names its best checkpoint."""
    return [
        ModelSource(
            "trainer.runs",
            "Trained runs",
            "studio_trainer.trained_runs:list_trained",
            resolve="studio_trainer.trained_runs:resolve",
        ),
        ModelSource(
            "trainer.hf",
            "Hugging Face folders",
            "studio_trainer.hf.listing:list_hf",
            resolve="studio_trainer.hf.listing:resolve",
        ),
    ]
