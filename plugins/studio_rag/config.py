"""Parameters of the RAG job (a form in the studio, --set on the CLI) and of its workflow
nodes. No torch here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from .embedder import DEFAULT_EMBEDDER


class IndexParams(BaseModel):
    sources: list[str] = Field(..., description="files or folders to index")
    collection: str = Field("docs", description="a collection name (in the workspace) or a .rag.sqlite path")
    embedder: str = Field(
        DEFAULT_EMBEDDER,
        description="minilm, a sentence-transformers folder, litellm:<model>, or python:module:function",
    )
    precision: str = Field("fp32", pattern="^(fp32|bf16|int8)$", description="local embedders: int8 / bf16 run faster")
    include: str = Field("*", description="comma-separated file name patterns to index")
    exclude: str = Field("", description="comma-separated patterns to leave out (besides .git, node_modules…)")
    chunk_size: int = Field(200, ge=8, le=2048, description="tokens of the embedder per chunk")
    overlap: int = Field(30, ge=0, description="tokens shared by neighbouring chunks")
    batch_size: int = Field(32, ge=1, le=1024)
    file_timeout: float = Field(60.0, gt=0, description="seconds before a file's parsing is given up")
    rebuild: bool = Field(False, description="start the collection afresh (another embedder, other chunking)")
    watch: bool = Field(False, description="keep running: re-index what changes (cancel the job to stop)")
    watch_interval: float = Field(2.0, gt=0, description="seconds between checks when watching")

    @model_validator(mode="after")
    def _overlap_within_chunk(self):
        if self.overlap >= self.chunk_size:
            raise ValueError(overlap_error(self.overlap, self.chunk_size))
        return self


class RetrieveParams(BaseModel):
    """The ``rag.retrieve`` workflow node."""

    collection: str = Field("docs", description="a collection name (in the workspace) or a .rag.sqlite path")
    k: int = Field(5, ge=1, le=100)
    mode: str = Field("hybrid", pattern="^(hybrid|vector|keyword)$")
    path: str = Field("", description="only documents whose path matches this glob")
    mmr: float | None = Field(None, ge=0, le=1, description="diversify the results (relevance weight)")


class SummarizeParams(BaseModel):
    """The ``rag.summarize`` workflow node."""

    model: Any = Field(None, description="a model for the summaries (default: the workflow's)")


def overlap_error(overlap: int, chunk_size: int, names: tuple[str, str] = ("overlap", "chunk_size")) -> str:
    return (
        f"{names[0]} {overlap} is not smaller than {names[1]} {chunk_size}: neighbouring chunks can share only "
        "part of a chunk"
    )


def split_patterns(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]
