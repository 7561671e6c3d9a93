"""What plugins contribute: plain, frozen declarations the shell collects through hooks.

Heavy code (torch, litellm, Qt widgets) is named by ``"module:function"`` strings and
imported only when used (:func:`studio.api.resolve`), so the studio starts fast and a
worker process never imports Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from .events import Event

Executor = Literal["async", "process"]
DockArea = Literal["left", "right", "top", "bottom"]


@dataclass(frozen=True)
class PluginInfo:
    """What the Plugins panel shows about a plugin."""

    name: str
    version: str = ""
    description: str = ""
    icon: str | None = None  # path to an icon file, optional


@dataclass(frozen=True)
class JobKind:
    """A kind of job the studio can run, from the GUI's "Run job…" dialog or the CLI.

    ``params`` is a pydantic model: the UI builds a form from its fields and the CLI
    validates a JSON file against it. ``runner`` is ``"module:function"`` with the
    signature ``run(params, ctx: JobContext)`` (sync or ``async def``). ``process`` jobs
    run in a spawned worker process (heavy compute); ``async`` jobs run in the studio's
    event loop (I/O-bound work; a sync runner is moved to a thread).
    """

    id: str
    title: str
    params: type[BaseModel]
    runner: str
    executor: Executor = "process"
    description: str = ""
    devices: tuple[str, ...] = ("cpu",)


@dataclass(frozen=True)
class PanelSpec:
    """A dockable panel. ``factory`` is ``"module:function"`` taking a PanelContext and
    returning a QWidget; it is imported only when the panel is created.

    A widget that is also a :class:`~studio.api.Panel` gets the shell's calls (events of
    the kinds in ``consumes`` — event classes such as ``Metric`` or their kind names —,
    opened paths, saved state, workspace changes); any other widget is just shown.
    """

    id: str
    title: str
    factory: str | Callable[..., Any]
    area: DockArea = "right"
    consumes: tuple[type[Event] | str, ...] = ()
    visible: bool = True  # shown on first start


@dataclass(frozen=True)
class Port:
    name: str
    type: str = "any"  # a type name; only equal types (or "any") connect


@dataclass(frozen=True)
class NodeType:
    """A node type for the workflow graph editor."""

    id: str
    title: str
    runner: str
    category: str = "General"
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    params: type[BaseModel] | None = None
    description: str = ""


class NodeRuntime(Protocol):
    """Handed to a plugin node's runner as a third argument, when it takes one:
    ``runner(params, inputs, runtime)``. Model calls made through it use the workflow's
    model (or the node's ``params["model"]``), its cache and budget, and appear in the
    trace under the node."""

    async def predict(self, signature: str, instructions: str = "", **inputs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LLMProvider:
    """A model backend beyond litellm's own: model strings starting with ``prefix``
    (for example ``"studio/"``) are sent to ``factory()``'s completion function. Its
    OpenAI-shaped reply may add ``"studio_load": {"start": unix time, "seconds": s,
    "name": text}`` when the call first loaded the model: traces show it as a ``load``
    span inside the call, apart from the generation."""

    id: str
    title: str
    prefix: str
    factory: str
    #: the text after ``prefix`` names a model of the workspace, as any model field does
    #: (``studio.api.resolve_model``: a run id, a run, checkpoint or quantized folder), so
    #: model pickers offer the workspace's models (``list_models``) as ``prefix + ref``
    model_refs: bool = False


@dataclass(frozen=True)
class MenuAction:
    """A menu entry. ``callback`` is ``"module:function"`` called with a PanelContext.
    ``home``: also a button in the home page's *Get started* row (a first step a newcomer
    takes: train a model, open a sample)."""

    id: str
    title: str
    callback: str | Callable[..., Any]
    menu: str = "Tools"
    shortcut: str | None = None
    home: bool = False


@dataclass(frozen=True)
class CliCommand:
    """A ``tensor-studio NAME …`` sub-command. ``configure(parser)`` adds arguments;
    ``run(args, ctx) -> int`` does the work and returns the exit code, with ``ctx`` a
    :class:`~studio.api.CliContext` (the workspace's folders, ``run_job``, ``job_params``).
    Raise ``ValueError`` or ``StudioFileError`` for bad input: the user sees one line and
    the command exits 2."""

    name: str
    help: str
    configure: str | Callable[..., Any]
    run: str | Callable[..., Any]


@dataclass(frozen=True)
class OpenAction:
    """How a plugin handles an opened or dropped path: show a panel and hand it the path
    (``Panel.open_path``), and/or start a job."""

    description: str
    panel: str | None = None
    job_kind: str | None = None
    job_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelPart:
    """A building block the trainer can put into a model, chosen by ``id`` in a model
    config. ``kind`` says where it goes: ``"attention"`` (``factory(config)`` returns an
    ``nn.Module`` mapping ``(B, T, C) -> (B, T, C)`` causally) or ``"block"``
    (``factory(config, layer_index)`` returns a whole residual block). ``factory`` is
    ``"module:attribute"`` so a worker process can import it without the GUI.

    What the inspector can see of a part is what its interface offers, each optional:
    an attention module's ``attention_weights(x) -> (B, heads, T, T)`` (its probabilities,
    rows are queries: the attention maps), and ``n_head`` with an output ``proj`` whose
    input holds head h at columns h*D:(h+1)*D (per-head attribution and ablation); a
    block's ``attn`` and ``mlp`` submodules, whose outputs are added to the residual
    stream (per-part attribution and ablation). A part without them is still inspected as
    a whole (logit lens, block outputs)."""

    id: str
    kind: Literal["attention", "block"]
    title: str
    factory: str
    description: str = ""


@dataclass(frozen=True)
class ModelLoader:
    """A kind of model checkpoint other plugins can load and measure (the quantizer uses
    it to compute loss and latency of a model it did not build). ``load`` is
    ``"module:function"``: ``load(path) -> LoadedModel | None`` (None: not this kind)."""

    id: str
    title: str
    load: str


@dataclass(frozen=True)
class WeightReader:
    """Weights stored in another form (quantized, sharded…): a checkpoint folder holding a
    file named ``marker`` is read by ``read`` (``"module:function"``: ``read(folder) ->
    dict[str, tensor]`` of float weights), so any loader can open it.

    ``run_stored`` (optional, ``"module:function"``: ``run_stored(model, folder) -> model``)
    turns a model holding those float weights into one that computes in the stored form
    (int8 kernels, say), on the CPU. Loaders call it only to generate, never to train or
    to measure the float model."""

    id: str
    title: str
    marker: str
    read: str
    run_stored: str | None = None


@dataclass
class LoadedModel:
    """A model ready to measure, in eval mode on the CPU.

    ``loss(model, text)`` is the mean next-token loss in nats of ``model`` (this one, or a
    transformed copy such as a quantized one) on the held-out part of ``text``;
    ``example_input(batch_size)`` is an input for ``model(...)`` of that batch size.
    A model that does not predict tokens (an embedder) names what its ``loss`` measures
    in ``loss_name`` instead (lower is better, 0 for the model as loaded)."""

    model: Any
    loss: Callable[[Any, str], float]
    example_input: Callable[[int], Any]
    description: str = ""
    loss_name: str = ""


@dataclass(frozen=True)
class ModelEntry:
    """One model a person can pick: what ``studio.api.list_models`` returns and the model
    picker shows. ``ref`` is what to type in a model field — a run id of the workspace, or a
    folder path — and :func:`studio.api.resolve_model` turns it back into ``path``, the
    folder holding the model. ``kind`` says what it is ("trained run", "quantized"…);
    ``size_bytes`` is the size of its weights on disk and ``modified`` (Unix time) when they
    were written; ``detail`` is one short line (the step and loss, the scheme…).
    ``provider_prefix`` (optional): the :class:`LLMProvider` prefix that runs it (``"hf/"``); a
    picker of provider model strings offers it as ``provider_prefix + ref`` instead of its own
    prefix. Empty: the picker's prefix (``studio/``)."""

    ref: str
    name: str
    kind: str
    path: Path
    size_bytes: int
    modified: float
    detail: str = ""
    provider_prefix: str = ""


@dataclass(frozen=True)
class ModelSource:
    """Where a plugin's models are, for the model picker and for resolving a model field.

    ``list`` is ``"module:function"``: ``list(folders: Folders) -> list[ModelEntry]`` — the
    models of the workspace ``folders`` names. It is called each time a picker opens, in
    the GUI process: it must import neither Qt nor torch and be fast (read small JSON
    files and ``stat`` weights; never open them). ``resolve`` (optional,
    ``"module:function"``): ``resolve(folder: Path) -> Path | None`` — the model folder a
    folder of this source's kind stands for (a training run's folder → its checkpoint), or
    None for a folder that is not of its kind."""

    id: str
    title: str
    list: str
    resolve: str | None = None
