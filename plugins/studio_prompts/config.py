"""Parameters of the prompt-engine jobs (forms in the UI, JSON / --set on the CLI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ModelOptions(BaseModel):
    model: str = Field(
        "",
        description="model for nodes without their own (empty: the workflow's), "
        "e.g. openai/gpt-4o-mini, ollama_chat/llama3, studio/<run>",
    )
    api_base: str = Field("", description="server URL for that model (Ollama, vLLM, LM Studio, llama.cpp)")
    cache: bool = Field(True, description="reuse replies to identical requests (workspace cache)")
    concurrency: int = Field(8, ge=1, le=256, description="model calls in flight at once")
    timeout: float = Field(120.0, gt=0, description="seconds per model call")
    retries: int = Field(3, ge=0, le=10, description="retries on rate limits, server errors and timeouts")


TRUSTED = (
    "when the workflow (or a module:function metric) names Python code: the fingerprint of the content "
    "you reviewed and agree to run (the CLI's --trust and the editor's dialog fill it in)"
)


class RunParams(ModelOptions):
    workflow: str = Field(..., description="the .workflow.json (or .workflow.yaml) file")
    trusted: str = Field("", description=TRUSTED)
    inputs: dict[str, Any] = Field(default_factory=dict, description="the workflow's inputs")


class EvalParams(ModelOptions):
    workflow: str = Field(..., description="the .workflow.json (or .workflow.yaml) file")
    trusted: str = Field("", description=TRUSTED)
    data: str = Field(..., description="dataset: CSV, JSON, JSONL, Parquet or a saved HF dataset folder")
    metric: str = Field("exact_match", description="exact_match, f1, contains, llm_judge or module:function")
    limit: int | None = Field(None, ge=1, description="use only the first N examples")
    resume: str = Field("", description="an earlier evaluation's run folder: its finished examples are kept")


class OptimizeParams(EvalParams):
    optimizer: Literal["labeled", "bootstrap", "copro"] = "bootstrap"
    k: int = Field(4, ge=0, le=32, description="demos per predictor (labeled, bootstrap)")
    breadth: int = Field(4, ge=2, le=32, description="COPRO: instructions proposed per round")
    depth: int = Field(2, ge=0, le=10, description="COPRO: rounds of refinement")
    temperature: float = Field(1.0, ge=0, le=2, description="COPRO: sampling temperature of proposals")
    max_calls: int | None = Field(None, ge=1, description="budget: stop after this many model calls")
    max_cost: float | None = Field(None, gt=0, description="budget: stop after this many dollars")
