"""The RAG plugin's contributions: the indexing job, the CLI, workflow nodes, a panel, the
embedder as a model the quantizer can measure, and dropped folders."""

from __future__ import annotations

from pathlib import Path

from studio.api import (
    CliCommand,
    JobKind,
    MenuAction,
    ModelLoader,
    NodeType,
    OpenAction,
    PanelSpec,
    PluginInfo,
    Port,
    hookimpl,
)


@hookimpl
def studio_plugin_info():
    return PluginInfo(
        name="RAG indexer",
        version="0.1",
        description="Index folders into SQLite collections (FTS5 + vectors), hybrid search, "
        "retriever and tree-summary workflow nodes.",
    )


@hookimpl
def studio_job_kinds():
    from .config import IndexParams

    return [
        JobKind(
            "rag.index",
            "Index documents",
            IndexParams,
            "studio_rag.jobs:index",
            description="chunk and embed files into a collection; unchanged files are skipped, a killed run resumes",
        )
    ]


@hookimpl
def studio_commands():
    return [
        CliCommand(
            "rag",
            "index folders, search collections, show their status",
            "studio_rag.cli:configure",
            "studio_rag.cli:run",
        ),
        MenuAction(
            "rag.sample",
            "Build sample RAG collection",
            "studio_rag.qt.collections_panel:build_sample",
            home=True,  # a first step on the home page: the RAG panel opens and shows the indexing
        ),
    ]


@hookimpl
def studio_workflow_nodes():
    from .config import RetrieveParams, SummarizeParams

    return [
        NodeType(
            "rag.retrieve",
            "Retrieve",
            "studio_rag.nodes:retrieve",
            "Retrieval",
            inputs=(Port("query", "str"),),
            outputs=(Port("passages", "list[str]"), Port("sources", "list[str]")),
            params=RetrieveParams,
            description="top-k chunks of a collection (hybrid, vector or keyword search)",
        ),
        NodeType(
            "rag.summarize",
            "Tree summary",
            "studio_rag.nodes:summarize",
            "Retrieval",
            inputs=(Port("question", "str"), Port("passages", "list[str]")),
            outputs=(Port("answer", "str"), Port("summary", "str"), Port("levels", "int")),
            params=SummarizeParams,
            description="summarise passages pairwise, level by level, then answer (each call traced)",
        ),
    ]


@hookimpl
def studio_panels():
    return [PanelSpec("rag:panel", "RAG", "studio_rag.qt.collections_panel:create", area="right", visible=False)]


@hookimpl
def studio_model_loaders():
    return [ModelLoader("rag.sentence_transformer", "Sentence-embedding model", "studio_rag.loader:load")]


@hookimpl(trylast=True)
def studio_open_path(path: Path):
    """A plain folder of documents (no other plugin's) is offered for indexing; a
    collection file opens in the RAG panel."""
    path = Path(path)
    if path.is_file() and path.name.endswith(".rag.sqlite"):
        return OpenAction(description="search this collection", panel="rag:panel")
    if path.is_dir() and not any(
        (path / marker).exists() for marker in ("events.jsonl", "config.json", "model.safetensors")
    ):
        return OpenAction(description="index this folder", panel="rag:panel")
    return None
