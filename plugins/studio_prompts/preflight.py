"""Checks a prompts job makes before its first model call, so a mistake costs nothing.

A workflow with a node whose plugin is missing would fail every example; an evaluation
told to ``--resume`` from the wrong place would silently run (and pay for) everything
again, or mix the scores of two programs. Both are refused up front, naming what is wrong;
so is a results file with a row no evaluation writes (a hand-edited score or index), by
its line.
``--resume`` takes an evaluation's run folder, its ``results.jsonl``, or a run id (or a
unique part of one) in the workspace's ``runs`` folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.api import Folders

from .workflow.schema import WorkflowError


def check_metric(metric: Any) -> str:
    """A metric name the engine knows, or a ``module:function`` whose module can be found
    (looked up on the path, not imported: importing runs code, and the run may still be
    refused for consent). ``ValueError`` naming the problem otherwise."""
    from .evaluate import METRICS
    from .workflow.trust import REF

    if not isinstance(metric, str) or not metric.strip():
        raise ValueError(f"--metric is empty: use {', '.join(METRICS)} or 'module:function'")
    if metric in METRICS:
        return metric
    if not REF.match(metric):
        raise ValueError(f"unknown metric {metric[:80]!r}: use {', '.join(METRICS)} or 'module:function'")
    module = metric.split(":", 1)[0]
    if not _module_findable(module):
        raise ValueError(f"--metric {metric}: no module {module!r} can be imported (is it on PYTHONPATH?)")
    return metric


def _module_findable(name: str) -> bool:
    """Whether ``import name`` would find a module, without running any package's code:
    sub-packages are looked for in their parent's folders, not by importing the parent."""
    import importlib.machinery
    import importlib.util
    import sys

    parts = name.split(".")
    search: Any = None
    for i in range(len(parts)):
        full = ".".join(parts[: i + 1])
        if full in sys.modules:
            search = getattr(sys.modules[full], "__path__", None)
        else:
            try:
                spec = (
                    importlib.util.find_spec(full) if i == 0 else importlib.machinery.PathFinder.find_spec(full, search)
                )
            except (ImportError, ValueError):
                return False
            if spec is None:
                return False
            search = spec.submodule_search_locations
        if search is None and i < len(parts) - 1:
            return False
    return True


def missing_nodes(workflow: Any) -> dict[str, str]:
    """Node id (``sub/node`` inside sub-workflows) → the node type no installed plugin provides."""
    found = dict(workflow.missing)
    for node_id, sub in workflow.subworkflows.items():
        found.update({f"{node_id}/{nid}": kind for nid, kind in missing_nodes(sub).items()})
    return found


def refuse_missing(workflow: Any) -> None:
    missing = missing_nodes(workflow)
    if missing:
        from .workflow.graph import missing_text

        raise WorkflowError(f"{workflow.where}: cannot run: nodes {missing_text(missing)}")


def without_model(workflow: Any, inherited: bool = False) -> list[str]:
    """Predictor nodes (``sub/node`` inside sub-workflows) no model reaches: not their own,
    not their workflow's, not a parent workflow's. Such a run would fail at its first call,
    after the run folder is made; refusing first says where to set one instead."""
    reached = inherited or workflow.lm is not None or workflow.lm_override is not None
    found: list[str] = []
    if not reached:
        for node_id, module in workflow.predictors.items():
            parts = [module.react, module.extract] if hasattr(module, "react") else [module]
            if any(getattr(part, "lm", None) is None for part in parts):
                found.append(node_id)
    for node_id, sub in workflow.subworkflows.items():
        found += [f"{node_id}/{name}" for name in without_model(sub, reached)]
    return found


def no_model_message(workflow: Any, where_to_set: str) -> str | None:
    """One line naming the nodes without a model and ``where_to_set`` one; None when all have one."""
    nodes = without_model(workflow)
    if not nodes:
        return None
    listed = ", ".join(nodes[:6]) + (f" and {len(nodes) - 6} more" if len(nodes) > 6 else "")
    nodes_word = "node" if len(nodes) == 1 else "nodes"
    return f"{Path(workflow.where).name}: no model set for {nodes_word} {listed}: {where_to_set}"


def _run_folder(target: str, folders: Folders) -> Path:
    path = Path(target).expanduser()
    if path.exists():
        return path
    try:
        named = folders.run_dir(target)  # refuses what is not a run id: a path, "..", ""
    except ValueError:
        named = None
    if named is not None and folders.runs.is_dir():
        if (named / "run.json").exists():
            return named
        matches = sorted(d for d in folders.runs.iterdir() if target in d.name and (d / "run.json").exists())
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ValueError(f"--resume: {target!r} matches {len(matches)} runs; give more of the run id")
    raise ValueError(f"--resume: no run or folder {target!r} (runs are in {folders.runs})")


def _same_file(a: Any, b: Any) -> bool:
    return Path(str(a)).expanduser().resolve() == Path(str(b)).expanduser().resolve()


def resume_source(target: str, folders: Folders, workflow: str, metric: str, keys: list[str]) -> Path | None:
    """The ``results.jsonl`` to continue from (None when ``target`` is empty), or
    ``ValueError`` saying why that is not an earlier evaluation of this workflow and data."""
    if not target.strip():
        return None
    path = _run_folder(target.strip(), folders)
    folder, results = (path, path / "results.jsonl") if path.is_dir() else (path.parent, path)
    info = _json(folder / "run.json")
    if info.get("kind") and info["kind"] != "prompts.eval":
        raise ValueError(f"--resume: {folder.name} is a {info['kind']} run, not an evaluation (prompts.eval)")
    if not results.is_file():
        raise ValueError(f"--resume: {path} is not an evaluation: it has no results.jsonl")
    params = _json(folder / "params.json") if info else {}
    if params.get("workflow") and not _same_file(params["workflow"], workflow):
        raise ValueError(f"--resume: {folder.name} evaluated {params['workflow']}, not {workflow}")
    if params.get("metric") and params["metric"] != metric:
        raise ValueError(f"--resume: {folder.name} was scored with {params['metric']}, not {metric}")
    from .evaluate import ResultsFileError, read_results

    try:  # each row checked: a hand-edited score or index is refused here, naming its line
        rows = read_results(results, metric)
    except ResultsFileError as exc:
        raise ValueError(f"--resume: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"--resume: cannot read {results}: {exc}") from None
    except RecursionError:
        raise ValueError(f"--resume: {results}: nested too deeply to read") from None
    if rows and not any("key" in row for row in rows):
        raise ValueError(f"--resume: {results} is not an evaluation's results file")
    wanted = set(keys)
    if rows and not any(row.get("key") in wanted for row in rows):
        raise ValueError(
            f"--resume: none of the {len(rows)} examples in {results} is in this dataset (another data file?)"
        )
    return results


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
