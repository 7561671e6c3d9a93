"""Running a workflow: every node starts as soon as its inputs are ready.

Nodes are asyncio tasks in one TaskGroup; a node awaits the nodes it reads from, so
independent branches run concurrently and the settings' ``limiter`` bounds how many model
calls are in flight. The first failing node cancels the rest and is raised as
:class:`NodeError` naming the node. A ``Workflow`` is a Module: it can be called, evaluated
and optimized like any program, and ``to_file()`` writes back what optimizers changed
(instructions, demos) into the same readable file format.

Built-in node types (``prompts.*``): ``predict``, ``chain_of_thought``, ``react``
(``params.tools``: ``"module:function"`` references), ``python`` (``params.function``),
``workflow`` (``params.path``, relative to this file). The code a file names is kept as
text until the workflow is trusted (``load_workflow(path, trusted=True)`` or
``workflow.trust()``, see ``trust.py``): loading never imports it, and an untrusted
workflow that names code refuses to run. Any other type comes from a
plugin's ``studio_workflow_nodes`` hook (for example a retriever), and runs as
``runner(params, inputs) -> dict`` (sync or async), or ``runner(params, inputs, runtime)``
to make traced model calls through the engine (``studio.api.NodeRuntime``). A node whose type no enabled plugin
provides loads as a placeholder: the workflow opens, shows it, and refuses to run, saying why
(``missing_text``: its plugin is disabled, or not installed).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from functools import partial
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from studio.api import JobCancelled, contributions, resolve

from .. import intervention as interventions
from ..data import Prediction
from ..lm import LM
from ..module import Module
from ..predict import ChainOfThought, Predict
from ..react import ReAct
from ..settings import context, settings
from ..signature import SignatureError, SignatureSpec, write_signature
from ..trace import error_text, start_span
from . import trust as trust_rules
from .schema import NodeSpec, WorkflowError, WorkflowFile, read_workflow_source, sibling

PREDICTORS = {"prompts.predict": Predict, "prompts.chain_of_thought": ChainOfThought}
BUILTIN_TYPES = {*PREDICTORS, "prompts.react", "prompts.python", "prompts.workflow"}
MAX_NESTING = 32  # sub-workflows within sub-workflows: a deeper chain is a mistake (or an attack)


class NodeError(RuntimeError):
    plain_message = True  # "node 'x' (type): …" says what failed

    def __init__(self, node: str, node_type: str, cause: BaseException):
        super().__init__(f"node {node!r} ({node_type}): {error_text(cause)}")
        self.node, self.node_type, self.cause = node, node_type, cause


def unavailable(type_id: str) -> str:
    """Why no plugin provides node type ``type_id``, as the user can act on it. Node types
    are named ``<plugin id>.<name>``. When that plugin contributes other node types, it is
    there but has no such one (another version of it); when it is installed (an entry
    point of the studio's group) but contributes none, it is disabled, or failed to load;
    else it is not installed, or named otherwise. The API does not say which plugins are
    disabled, hence the hedges."""
    from importlib.metadata import entry_points

    from studio.api import ENTRY_POINT_GROUP

    plugin = type_id.partition(".")[0]
    if not plugin:
        return "not available (plugin missing or disabled)"
    if any(node.id.partition(".")[0] == plugin for node in contributions("studio_workflow_nodes")):
        return f"plugin {plugin} has no such node type (another version of it?)"
    if plugin in {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}:
        return f"plugin {plugin} is disabled or did not load (enable it in Plugins)"
    return "not available (plugin missing or disabled)"


def missing_text(missing: dict[str, str]) -> str:
    """Nodes whose type no enabled plugin provides (node id → type), grouped by why:
    ``search (rag.retrieve): plugin rag is disabled or did not load (enable it in Plugins)``."""
    by_reason: dict[str, list[str]] = {}
    for node_id, type_id in missing.items():
        by_reason.setdefault(unavailable(type_id), []).append(f"{node_id} ({type_id})")
    return "; ".join(f"{', '.join(nodes)}: {reason}" for reason, nodes in by_reason.items())


def check_references(spec: WorkflowFile, where: str, output_ports: Callable[[str], list[str] | None]) -> None:
    """Every binding (a node's input, a workflow output) names a declared workflow input or
    an existing node's output: else WorkflowError saying which. ``output_ports(node_id)``:
    the node's outputs where known before running, None where not. The CLI (through
    ``Workflow``) and the editor, before it opens a file, check the same."""
    for node_id, node in spec.nodes.items():
        for port, ref in node.inputs.items():
            _check_ref(spec, where, output_ports, ref, f"node {node_id!r} input {port!r}")
    for name, ref in spec.outputs.items():
        _check_ref(spec, where, output_ports, ref, f"output {name!r}")


def _check_ref(
    spec: WorkflowFile, where: str, output_ports: Callable[[str], list[str] | None], ref: str, what: str
) -> None:
    source, dot, port = ref.partition(".")
    if not dot or not port:
        raise WorkflowError(f"{where}: {what}: {ref!r} is not 'input.<name>' or '<node>.<port>'")
    if source == "input":
        if port not in spec.inputs:
            raise WorkflowError(f"{where}: {what}: the workflow has no input {port!r}")
        return
    if source not in spec.nodes:
        raise WorkflowError(f"{where}: {what}: there is no node {source!r}")
    ports = output_ports(source)
    if ports is not None and port not in ports:
        raise WorkflowError(f"{where}: {what}: node {source!r} has no output {port!r} (it has {', '.join(ports)})")


def builtin_node(params: dict[str, Any], inputs: dict[str, Any]) -> None:
    """The runner named by the built-in node types: they run inside ``Workflow`` (they need
    its predictors, sub-workflows and settings), so calling this directly is a mistake."""
    raise RuntimeError("built-in prompts.* nodes run inside a Workflow; load the workflow file and call it")


def plugin_node_types() -> dict[str, Any]:
    return {n.id: n for n in contributions("studio_workflow_nodes")}


#: what a file's model object may set: the model, its server, the NAME of a key's
#: environment variable, sampling parameters. Nothing that changes where requests go or
#: what runs (``backend``, ``base_url``, ``extra_headers``, ``custom_llm_provider``…).
MODEL_KEYS = frozenset(
    {
        "model",
        "api_base",
        "api_key_env",
        "temperature",
        "max_tokens",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",  # token probabilities from litellm models (tokens.py); local models record them always
        "top_logprobs",
        "intervention",  # a saved intervention file a local studio/ model applies (intervention.py)
    }
)
_TEXT_KEYS = ("model", "api_base", "api_key_env")


def make_lm(value: Any) -> LM | None:
    """A node's or workflow's ``model`` as a file gives it: a model string or
    ``{"model": …, "api_base": …, …}`` with only :data:`MODEL_KEYS`. A server the file
    names gets no key of the user's until they agree (``Workflow.allow_credentials``)."""
    if value is None or isinstance(value, LM):
        return value
    if isinstance(value, str) and value:
        return LM(value)
    if isinstance(value, dict) and value.get("model"):
        if "api_key" in value:
            raise WorkflowError(
                "API keys never go in workflow files: use api_key_env (an environment variable) or the OS keyring"
            )
        unknown = sorted(str(k) for k in value if k not in MODEL_KEYS)
        if unknown:
            raise WorkflowError(
                f"a model object may not set {', '.join(map(repr, unknown))} "
                f"(it may set {', '.join(sorted(MODEL_KEYS))})"
            )
        for key in _TEXT_KEYS:
            if key in value and not isinstance(value[key], str):
                raise WorkflowError(f"the model's {key!r} is text, got {value[key]!r}")
        if value.get("api_key_env") and not str(value["api_key_env"]).isidentifier():
            raise WorkflowError(f"api_key_env names an environment variable, got {value['api_key_env']!r}")
        if interventions.KEY in value:
            why = interventions.refusal(str(value["model"]), value[interventions.KEY])
            if why is not None:
                raise WorkflowError(why)
        lm = LM(**value)
        lm.send_key = not value.get("api_base")
        return lm
    raise WorkflowError(f'a model is a string or an object with "model", got {value!r}')


def load_workflow(path: str | Path, *, trusted: bool = False) -> Workflow:
    """Read a workflow file; nothing it names is imported unless ``trusted`` (you read the
    file, or you wrote it), and an untrusted workflow that names code refuses to run."""
    path = Path(path)
    spec, digest = read_workflow_source(path)
    return Workflow(spec, path, trusted=trusted, source_digest=digest)


class Workflow(Module):
    span_kind = "workflow"

    def __init__(
        self,
        spec: WorkflowFile,
        path: Path | None = None,
        *,
        lm: LM | None = None,
        trusted: bool = False,
        source_digest: str = "",
        _parents: tuple[Path, ...] = (),
    ):
        self.spec = spec
        self.path = Path(path) if path else None
        self.source_digest = source_digest  # sha256 of the file's bytes (trust.content_digest)
        self.trusted = False
        self.code_refs: dict[str, list[str]] = {}  # node id → the "module:function" it names, unimported
        self.functions: dict[str, Any] = {}  # node id → the resolved function, once trusted
        self.lm_override = lm  # e.g. the CLI's --model: replaces the file's default model
        self.credentials_allowed = False  # keys for servers the file names (allow_credentials)
        self._parents = _parents + ((self.path.resolve(),) if self.path else ())
        self.where = str(self.path) if self.path else spec.name
        self.lm = self._guard(lambda: make_lm(spec.model), "model")
        self.missing: dict[str, str] = {}  # node id → node type no installed plugin provides
        self.predictors: dict[str, Predict | ReAct] = {}  # Predict, ChainOfThought or ReAct nodes
        self.subworkflows: dict[str, Workflow] = {}
        self._plugin_types = plugin_node_types()
        for node_id, node in spec.nodes.items():
            self._build(node_id, node)
        self.deps = {
            nid: sorted({ref.split(".", 1)[0] for ref in node.inputs.values()} - {"input"})
            for nid, node in spec.nodes.items()
        }
        self._check_references()
        try:
            self.order = list(TopologicalSorter(self.deps).static_order())
        except CycleError as exc:
            raise WorkflowError(f"{self.where}: the nodes form a cycle: {' → '.join(exc.args[1])}") from None
        if trusted:
            self.trust()
            self.allow_credentials()

    # ---- building

    def _guard(self, make, what: str) -> Any:
        try:
            return make()
        except (SignatureError, WorkflowError, ValueError, TypeError) as exc:
            raise WorkflowError(f"{self.where}: {what}: {exc}") from None

    def _build(self, node_id: str, node: NodeSpec) -> None:
        p = node.params
        where = f"node {node_id!r}"
        if node.type in PREDICTORS or node.type == "prompts.react":
            spec = self._guard(lambda: SignatureSpec.from_dict(p, name=node_id), where)
            lm = self._guard(lambda: make_lm(p.get("model")), where)
            config = dict(p.get("config") or {})
            self._check_intervention(where, config, lm)
            if node.type == "prompts.react":
                tools = p.get("tools") or []
                if not isinstance(tools, list):
                    raise WorkflowError(f"{self.where}: {where}: params.tools is a list of 'module:function'")
                self.code_refs[node_id] = [
                    self._guard(lambda ref=ref: trust_rules.check_ref(ref), f"{where}: tool") for ref in tools
                ]
                module: Predict | ReAct = self._react(node_id, spec, lm, config, [])  # tools join when trusted
            else:
                module = PREDICTORS[node.type](
                    spec,
                    demos=p.get("demos") or [],
                    lm=lm,
                    format=p.get("format"),
                    structured=p.get("structured"),
                    name=node_id,
                    **config,
                )
            self.predictors[node_id] = module
            unbound = [n for n in spec.input_names if n not in node.inputs]
            if unbound:
                raise WorkflowError(f"{self.where}: {where}: input {unbound[0]!r} is not connected")
        elif node.type == "prompts.python":
            ref = p.get("function", "")
            self.code_refs[node_id] = [self._guard(lambda: trust_rules.check_ref(ref), f"{where}: function")]
        elif node.type == "prompts.workflow":
            sub_path = self._sub_path(where, p.get("path"))
            try:
                sub_spec, digest = read_workflow_source(sub_path)
            except WorkflowError as exc:
                raise WorkflowError(f"{self.where}: {where}: {exc}") from None
            self.subworkflows[node_id] = Workflow(sub_spec, sub_path, source_digest=digest, _parents=self._parents)
        elif node.type in self._plugin_types:
            params_model = self._plugin_types[node.type].params
            if params_model is not None:
                self._guard(lambda: params_model.model_validate(p), where)
        else:
            self.missing[node_id] = node.type

    def _check_intervention(self, where: str, config: dict[str, Any], lm: LM | None) -> None:
        """A node's ``config.intervention`` needs a local studio/ model: refused here for the
        model the node will call where it is known (else the call refuses it)."""
        if interventions.KEY not in config:
            return
        model = lm or self.lm_override or self.lm
        why = interventions.refusal(
            model.model if model is not None else interventions.LOCAL_PREFIX, config["intervention"]
        )
        if why is not None:
            raise WorkflowError(f"{self.where}: {where}: {why}")

    def _sub_path(self, where: str, path: Any) -> Path:
        """A sub-workflow node's ``params.path``, checked as text, resolved, and refused
        when it makes a cycle or a chain deeper than :data:`MAX_NESTING`."""
        if not isinstance(path, str) or not path.strip() or "\x00" in path:
            raise WorkflowError(
                f"{self.where}: {where}: params.path is the sub-workflow's file name (text), got {str(path)[:80]!r}"
            )
        sub_path = (self.path.parent if self.path else Path.cwd()) / path
        try:
            resolved = sub_path.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long…
            raise WorkflowError(f"{self.where}: {where}: {path} cannot be resolved ({exc})") from None
        if resolved in self._parents:
            raise WorkflowError(f"{self.where}: {where}: {path} includes itself (sub-workflows in a cycle)")
        if len(self._parents) >= MAX_NESTING:
            raise WorkflowError(
                f"{self._parents[0]}: sub-workflows nest more than {MAX_NESTING} deep (at {self.where}, {where})"
            )
        return sub_path

    def _react(
        self, node_id: str, spec: SignatureSpec, lm: LM | None, config: dict[str, Any], tools: list[Any]
    ) -> ReAct:
        p = self.spec.nodes[node_id].params
        module = ReAct(spec, tools, max_steps=int(p.get("max_steps", 5)), **config)
        for inner in (module.react, module.extract):
            inner.lm = lm
        return module

    # ---- trust: the code the file names is imported here, and only here

    def trust(self) -> Workflow:
        """Import the functions and tools this workflow (and its sub-workflows) names: call
        it once the person running it agreed to (``trust.require`` checks that for jobs)."""
        if self.trusted:
            return self
        for sub in self.subworkflows.values():
            sub.trust()
        for node_id, refs in self.code_refs.items():
            node = self.spec.nodes[node_id]
            where = f"node {node_id!r}"
            found = [self._guard(lambda ref=ref: _import(ref), f"{where}: {ref!r}") for ref in refs]
            if node.type == "prompts.python":
                self.functions[node_id] = found[0]
            else:
                old = self.predictors[node_id]
                assert isinstance(old, ReAct)  # code is named by function nodes and ReAct agents
                config = dict(node.params.get("config") or {})  # as _build made it
                module = self._guard(partial(self._react, node_id, old.signature, old.react.lm, config, found), where)
                module.react.demos, module.extract.demos = old.react.demos, old.extract.demos
                self.predictors[node_id] = module
        self.trusted = True
        return self

    def allow_credentials(self) -> Workflow:
        """The person running it agreed that the servers its files name (``api_base``) get
        their keys (``$api_key_env``, or the provider's): see ``trust.py``."""
        self.credentials_allowed = True
        parts = [p for m in self.predictors.values() for p in ((m.react, m.extract) if isinstance(m, ReAct) else (m,))]
        for lm in [self.lm, *(getattr(p, "lm", None) for p in parts)]:
            if lm is not None:
                lm.allow_key()
        for sub in self.subworkflows.values():
            sub.allow_credentials()
        return self

    def untrusted_code(self) -> list[trust_rules.CodeRef]:
        """The code this workflow names, and the keys it would send to servers it names,
        that need consent (empty: it runs as it is)."""
        return trust_rules.consent_needed(self)

    def _check_references(self) -> None:
        check_references(self.spec, self.where, self.output_ports)

    def output_ports(self, node_id: str) -> list[str] | None:
        """The output ports of a node, where they are known before running."""
        node = self.spec.nodes[node_id]
        if node_id in self.predictors:
            module = self.predictors[node_id]
            names = (module.extract.signature if isinstance(module, ReAct) else module.signature).output_names
            return names + (["trajectory"] if isinstance(module, ReAct) else [])
        if node_id in self.subworkflows:
            return list(self.subworkflows[node_id].spec.outputs)
        if node.type == "prompts.python":
            return list(node.params.get("outputs") or ["result"])
        plugin = self._plugin_types.get(node.type)
        if plugin is not None and plugin.outputs:
            return [port.name for port in plugin.outputs]
        return None

    # ---- as a program

    def span_name(self) -> str:
        return self.spec.name

    def named_predictors(self) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for node_id, module in self.predictors.items():
            if isinstance(module, ReAct):
                found += [(f"{node_id}.react", module.react), (f"{node_id}.extract", module.extract)]
            else:
                found.append((node_id, module))
        for node_id, sub in self.subworkflows.items():
            found += [(f"{node_id}/{name}", p) for name, p in sub.named_predictors()]
        return found

    def forward(self, **inputs: Any) -> Prediction:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.aforward(**inputs))
        raise RuntimeError("a workflow called synchronously inside a running event loop: use `await workflow.acall()`")

    async def aforward(self, **inputs: Any) -> Prediction:
        if not self.trusted:
            code = self.untrusted_code()
            if code:
                raise trust_rules.UntrustedCode(
                    f"{self.where}: not run, nobody agreed to what it names: {trust_rules.listing(code)}. "
                    "Read the file; if you trust it, load it with trusted=True (or call .trust())",
                    code,
                    trust_rules.content_digest(self),
                )
            self.trust()  # nothing to import, or only the engine's own functions
        if self.missing:
            raise WorkflowError(f"{self.where}: cannot run: nodes {missing_text(self.missing)}")
        absent = [name for name in self.spec.inputs if name not in inputs]
        if absent:
            raise ValueError(f"{self.where}: missing input {absent[0]!r} (inputs are {', '.join(self.spec.inputs)})")
        values: dict[str, Any] = {f"input.{k}": v for k, v in inputs.items()}
        tasks: dict[str, asyncio.Task] = {}
        lm = self.lm_override or self.lm or settings().lm
        with context(lm=lm):
            try:
                async with asyncio.TaskGroup() as group:
                    for node_id in self.order:
                        tasks[node_id] = group.create_task(self._run_node(node_id, tasks, values), name=node_id)
            except BaseExceptionGroup as group_error:
                raise _first_node_error(group_error) from None
        return Prediction(
            {
                name: values[ref] if ref.startswith("input.") else _port(values, ref)
                for name, ref in self.spec.outputs.items()
            }
        )

    async def _run_node(self, node_id: str, tasks: dict[str, asyncio.Task], values: dict[str, Any]) -> None:
        for dep in self.deps[node_id]:
            await tasks[dep]
        node = self.spec.nodes[node_id]
        bound = {
            port: values[ref] if ref.startswith("input.") else _port(values, ref) for port, ref in node.inputs.items()
        }
        span = start_span(settings().tracer, "node", node_id, bound, announce=True, node_type=node.type)
        try:
            result = await self._execute(node_id, node, bound)
        except BaseException as exc:
            span.end(error=exc)
            if isinstance(exc, Exception) and not isinstance(exc, (NodeError, JobCancelled)):
                raise NodeError(node_id, node.type, exc) from exc
            raise  # a cancelled job ends cancelled, not as this node's failure
        outputs = dict(result) if isinstance(result, dict) else {"result": result}
        span.end(outputs)
        values[node_id] = outputs

    async def _execute(self, node_id: str, node: NodeSpec, bound: dict[str, Any]) -> Any:
        if node_id in self.predictors:
            return await self.predictors[node_id].acall(**bound)
        if node_id in self.subworkflows:
            return await self.subworkflows[node_id].acall(**bound)
        if node_id in self.functions:
            return await _call(self.functions[node_id], bound)
        runner = resolve(self._plugin_types[node.type].runner)
        if _takes_runtime(runner):
            runtime = PluginNodeRuntime(node_id, node.params.get("model"))
            if self.credentials_allowed and runtime.lm is not None:
                runtime.lm.allow_key()
            return await _call(runner, node.params, bound, runtime)
        return await _call(runner, node.params, bound)

    # ---- back to a file

    def to_file(self) -> WorkflowFile:
        """The workflow as a file, with the predictors' current instructions and demos."""
        spec = self.spec.model_copy(deep=True)
        for node_id, module in self.predictors.items():
            if isinstance(module, Predict):
                params = spec.nodes[node_id].params
                write_signature(params, module.declared_signature)
                params["demos"] = [dict(d) for d in module.demos]
        return spec

    def save_new_version(self, suffix: str) -> Path:
        """Write ``<name>.<suffix>.workflow.json`` (or ``.yaml``, as the original) next to
        the original; never overwrite one."""
        if self.path is None:
            raise WorkflowError("this workflow has no file to version")
        target = sibling(self.path, suffix)
        self.to_file().save(target)
        return target


class PluginNodeRuntime:
    """``studio.api.NodeRuntime``: what a plugin node may ask of the engine (model calls,
    traced under its node, with the workflow's model unless the node names one)."""

    def __init__(self, node_id: str, model: Any = None):
        self.node_id, self.lm = node_id, make_lm(model)

    async def predict(self, signature: str, instructions: str = "", **inputs: Any) -> dict[str, Any]:
        module = Predict(signature, instructions=instructions, lm=self.lm, name=f"{self.node_id}.predict")
        return dict(await module.acall(**inputs))


def _import(ref: str) -> Any:
    """Import a ``module:function`` a trusted workflow names; a failure names the reference."""
    try:
        fn = resolve(ref)
    except AttributeError as exc:
        raise ValueError(f"no such function ({exc})") from None
    except Exception as exc:  # whatever its module raised on import, said in one line
        raise ValueError(f"cannot import it ({type(exc).__name__}: {exc})") from None
    if not callable(fn):
        raise ValueError(f"it is a {type(fn).__name__}, not a function")
    return fn


def _takes_runtime(runner: Any) -> bool:
    try:
        return len(inspect.signature(runner).parameters) >= 3
    except (TypeError, ValueError):
        return False


def _port(values: dict[str, Any], ref: str) -> Any:
    node_id, _, port = ref.partition(".")
    outputs = values[node_id]
    if port not in outputs:
        raise KeyError(f"node {node_id!r} gave no output {port!r} (it gave {', '.join(outputs) or 'nothing'})")
    return outputs[port]


async def _call(fn: Any, *args: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(*args) if len(args) > 1 else await fn(**args[0])
    if len(args) > 1:
        return await asyncio.to_thread(fn, *args)
    return await asyncio.to_thread(lambda: fn(**args[0]))


def _first_node_error(group: BaseExceptionGroup) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_node_error(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group.exceptions[0]
