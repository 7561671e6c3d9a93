"""Which Python code a workflow names, and whether the person running it agreed to that.

Why: a workflow file is data — it gets mailed, downloaded, pulled from a repository — yet
a Python-function node (``params.function``) and a ReAct node's tools (``params.tools``)
name ``module:function`` code, a signature's field type may name a class
(``answer: mypkg.models.Person``), and importing a module runs its top-level code. So:

* loading, showing, editing and exporting a workflow never import what it names (the
  graph keeps the references as text; ``Workflow.trust()`` resolves them, at run time);
* running needs consent to the code listed here: ``--trust`` on the command line, a dialog
  in the editor (remembered per content digest), and, in the ``prompts.*`` jobs
  themselves, a ``trusted`` parameter equal to :func:`fingerprint` — so ``jobs run`` is
  not a way around the question, and a file changed after it was reviewed is refused.

Keys are guarded the same way. A model object in a file may name a server
(``"api_base"``) and a key's environment variable (``"api_key_env"``); litellm would
send that variable, or the provider's key from the environment or keyring, to the
server as ``Authorization`` — to any host the file's author picked. The rule:

* a server a FILE names (an ``api_base`` in a workflow or sub-workflow file, at the top
  or in a node's ``model``) gets one of the user's keys only with consent. It is listed
  beside the code (:func:`endpoints`: ``model endpoint URL — receives $VAR``) when the
  model names ``api_key_env``, or when the provider's key is set here (environment or
  keyring); consent is the same fingerprint (the file's bytes hold the URL);
* without consent it gets the placeholder key ``no-key`` (local servers ignore it), never
  ``$api_key_env``, and litellm is never left to look the key up itself;
* a server the USER names (``--api-base``, the editor's form, ``LM(api_base=…)`` in
  Python) is their own choice: it gets their key, or the placeholder when none is set;
* a model object may set only ``graph.MODEL_KEYS`` (model, server, key variable name,
  sampling parameters): nothing that changes what runs or where requests go.

What needs no consent: the engine's own metric functions and the sample workflows'
read-only retriever (:data:`BUILTIN`), listed by exact name — not whole packages, since
the studio's packages also hold functions that write files. A plugin's node types run
the plugin's own code, installed on purpose, so they are not listed. A
``module:function`` metric is the choice of whoever starts the run (typed on the command
line or in the editor's form), and the CLI and the editor include it in the fingerprint
they pass; a job's parameters from elsewhere (``jobs run --params FILE``) must carry the
fingerprint for it too. The ``trusted`` parameter guards against running code by
accident, not against a params file crafted to carry a matching fingerprint: a params
file is a command, as trusted as the person who hands it to ``jobs run``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from .schema import WorkflowError

#: callables that run without asking, by exact reference: the built-in metrics (pure
#: functions of two values) and the samples' retriever (reads standard-library docstrings)
BUILTIN = frozenset(
    {
        "studio_prompts.evaluate:exact_match",
        "studio_prompts.evaluate:f1",
        "studio_prompts.evaluate:contains",
        "studio_prompts.examples:stdlib_search",
    }
)
BUILTIN_METRICS = ("exact_match", "contains", "f1", "llm_judge")  # names, not code references
REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class UntrustedCode(WorkflowError):
    """A run refused because the workflow names Python code nobody agreed to run."""

    def __init__(self, message: str, refs: list[CodeRef], fingerprint: str):
        super().__init__(message)
        self.refs, self.fingerprint = refs, fingerprint


@dataclass(frozen=True)
class CodeRef:
    ref: str  # "module:function"
    role: str  # "function of node 'f'", "tool of ReAct node 'agent'", "metric"
    where: str  # the file naming it (its name), or "" for a metric

    def __str__(self) -> str:
        return f"{self.ref} ({self.role}" + (f" in {self.where}" if self.where else "") + ")"


def check_ref(ref: Any) -> str:
    """A ``module:function`` reference, checked as text (nothing is imported)."""
    if not isinstance(ref, str) or not REF.match(ref):
        raise ValueError(f"{ref!r} is not a 'module:function' reference")
    return ref


def callables(workflow: Any) -> list[CodeRef]:
    """Every callable the workflow names, its sub-workflows' too, in file order; nothing is
    imported. Plugin node types are not listed (their code is the installed plugin's)."""
    found: list[CodeRef] = []
    where = workflow.path.name if workflow.path else workflow.spec.name
    for node_id, node in workflow.spec.nodes.items():
        found += _types(node_id, node, where)
        if node.type == "prompts.python":
            found.append(CodeRef(str(node.params.get("function", "")), f"function of node {node_id!r}", where))
        elif node.type == "prompts.react":
            found += [
                CodeRef(str(ref), f"tool of ReAct node {node_id!r}", where) for ref in node.params.get("tools") or []
            ]
        elif node_id in workflow.subworkflows:
            found += callables(workflow.subworkflows[node_id])
    return found


def _types(node_id: str, node: Any, where: str) -> list[CodeRef]:
    """Classes a predictor's signature names by dotted path: importing them runs their module."""
    from ..portable.fieldtypes import dotted_names
    from ..signature import SignatureError, SignatureSpec

    if node.type not in ("prompts.predict", "prompts.chain_of_thought", "prompts.react"):
        return []
    try:
        spec = SignatureSpec.from_dict(node.params, name=node_id)
    except (SignatureError, KeyError, TypeError, ValueError):
        return []
    return [
        CodeRef(name, f"type of field {f.name!r} of node {node_id!r}", where)
        for f in (*spec.inputs, *spec.outputs)
        for name in dotted_names(f.type)
    ]


def endpoints(workflow: Any) -> list[CodeRef]:
    """Servers the workflow's files name that would receive one of the user's keys (see
    the module's rule), its sub-workflows' too. Plugin providers (``studio/<run>``) take
    no key and are not listed."""
    found: list[CodeRef] = []
    where = workflow.path.name if workflow.path else workflow.spec.name
    models = [("the workflow's model", workflow.spec.model)]
    models += [(f"model of node {nid!r}", node.params.get("model")) for nid, node in workflow.spec.nodes.items()]
    for role, model in models:
        secret = _secret_sent(model)
        if secret:
            found.append(CodeRef(f"model endpoint {model['api_base']}", f"receives {secret}, {role}", where))
    for node_id in workflow.spec.nodes:
        if node_id in workflow.subworkflows:
            found += endpoints(workflow.subworkflows[node_id])
    return found


def _secret_sent(model: Any) -> str:
    """What key a file's model object would send to the server it names ('' for none)."""
    from studio.api import get_api_key

    from ..lm import provider_for, provider_name

    if not isinstance(model, dict) or not isinstance(model.get("api_base"), str) or not model["api_base"]:
        return ""
    name = model.get("model")
    if not isinstance(name, str) or provider_for(name) is not None:
        return ""
    if model.get("api_key_env"):
        return f"${model['api_key_env']}"
    provider = provider_name(name)
    key, source = get_api_key(provider)
    return f"your {provider} API key (from the {source})" if key else ""


def consent_needed(workflow: Any, metric: str = "") -> list[CodeRef]:
    """Everything running ``workflow`` needs consent for: the code it (and a
    ``module:function`` metric) names, and the servers it names that would get a key."""
    return needing_consent(callables(workflow) + endpoints(workflow) + [r for r in [metric_ref(metric)] if r])


def metric_ref(metric: Any) -> CodeRef | None:
    """A ``module:function`` metric as code to consent to (built-in metrics are not)."""
    if not isinstance(metric, str) or not metric or metric in BUILTIN_METRICS or metric in BUILTIN:
        return None
    return CodeRef(metric, "metric", "")


def needing_consent(refs: list[CodeRef]) -> list[CodeRef]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for ref in refs:
        key = (ref.ref, ref.role, ref.where)
        if ref.ref not in BUILTIN and key not in seen:
            seen.add(key)
            out.append(ref)
    return out


def content_digest(workflow: Any) -> str:
    """sha256 over the bytes of the workflow's file and of every sub-workflow file it loaded
    (a changed sub-workflow can name other code, so it is part of what was reviewed)."""
    h = hashlib.sha256()
    _feed(h, workflow)
    return h.hexdigest()


def _feed(h: Any, workflow: Any) -> None:
    own = workflow.source_digest or hashlib.sha256(workflow.spec.to_text().encode()).hexdigest()
    h.update(own.encode() + b"\n")
    for node_id in workflow.spec.nodes:
        if node_id in workflow.subworkflows:
            _feed(h, workflow.subworkflows[node_id])


def fingerprint(workflow: Any, metric: str = "") -> str:
    """What a job's ``trusted`` parameter must equal: the content digest, with a
    ``module:function`` metric added."""
    ref = metric_ref(metric)
    digest = content_digest(workflow)
    if ref is None:
        return digest
    return hashlib.sha256(f"{digest}\nmetric {ref.ref}\n".encode()).hexdigest()


def _is_endpoint(ref: CodeRef) -> bool:
    return ref.ref.startswith("model endpoint ")


def listing(refs: list[CodeRef], limit: int = 6) -> str:
    shown = ", ".join(str(r) for r in refs[:limit])
    return shown + (f" and {len(refs) - limit} more (workflow show lists them all)" if len(refs) > limit else "")


def require(workflow: Any, trusted: str = "", metric: str = "", how: str = "") -> list[CodeRef]:
    """The gate of a run: raise :class:`UntrustedCode` (one line naming each callable) when
    the workflow (or the metric) names code and ``trusted`` is not its :func:`fingerprint`.
    Returns the code that was consented to."""
    refs = consent_needed(workflow, metric)
    if not refs:
        return []
    expected = fingerprint(workflow, metric)
    if trusted == expected:
        return refs
    changed = " (it changed since it was trusted)" if trusted else ""
    how = how or f"if you trust it, pass trusted={expected} in the job's parameters"
    raise UntrustedCode(
        f"{workflow.where}{changed}: not run, it would "
        + ("import and run Python code it names" if any(not _is_endpoint(r) for r in refs) else "")
        + (" and " if any(not _is_endpoint(r) for r in refs) and any(map(_is_endpoint, refs)) else "")
        + ("send your API keys to servers it names" if any(map(_is_endpoint, refs)) else "")
        + f": {listing(refs)}. Read the file; {how}",
        refs,
        expected,
    )
