"""Export a workflow as a plain Python script that calls litellm directly — no lock-in.

The script carries the studio's own message formatting and reply parsing (the
``portable`` package, pasted verbatim), one ``async`` function per node, and a ``run``
that awaits the nodes level by level with ``asyncio.gather`` (independent nodes run
concurrently). Sent requests are the ones the engine sends, so against the same model the
script gives the same outputs. Python-function, sub-workflow and plugin nodes become
imports and calls. A ReAct node becomes ``react_loop`` — the engine's loop written out
(think, call a tool, observe; then an extraction call), with its tools imported by the
``module:function`` names the node holds and described (``portable/tools.py``) when the
script runs. Exporting writes those names as text: it never imports them itself.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from ..portable import PORTABLE_MODULES
from ..predict import Predict
from ..react import ReAct
from ..signature import SignatureSpec
from .graph import PREDICTORS, Workflow
from .schema import WorkflowError

HEADER = '''#!/usr/bin/env python3
"""{name}: exported from Tensor Studio ({source}). Needs only litellm (pip install litellm).

    python {script} {usage}[--model MODEL] [--api-base URL]

Prints the workflow's outputs as JSON. API keys come from the environment, as litellm reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402

'''

CALL_MODEL = '''

# --------------------------------------------------------------------------- model calls

DEFAULT_MODEL = {default_model}


async def call_model(node, fmt, instructions, inputs, outputs, demos, values, request):
    inputs = [Field(*f) for f in inputs]
    outputs = [Field(*f) for f in outputs]
    messages = build_messages(fmt, instructions, inputs, outputs, demos, values)
    for attempt in range(2):
        response = await litellm.acompletion(messages=messages, **request)
        text = response.choices[0].message.content or ""
        parsed, problems = parse_reply(fmt, outputs, text)
        if not problems:
            return parsed
        messages = messages + [{{"role": "assistant", "content": text}},
                               {{"role": "user", "content": repair_message(fmt, outputs, problems)}}]
    raise ValueError(f"node {{node}}: could not read the reply ({{problems}}). Raw reply:\\n{{text}}")


async def call_function(fn, *args, **kwargs):
    if asyncio.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)


async def outputs_of(call):
    value = await call
    return value if isinstance(value, dict) else {{"result": value}}


async def react_loop(node, step, extract, tools, max_steps, values, request):
    """ReAct: ask for the next tool until the model says finish, then extract the outputs."""
    trajectory = []
    for i in range(max_steps):
        decision = await call_model(node, *step, [], {{**values, "trajectory": "\\n".join(trajectory)}}, request)
        name, args = decision["next_tool_name"], decision["next_tool_args"] or {{}}
        trajectory.append(f"[thought {{i}}] {{decision['next_thought']}}")
        if name == "finish":
            break
        trajectory.append(f"[tool {{i}}] {{name}}({{args}})")
        try:
            observation = await call_function(tools[name], **args)
        except Exception as exc:
            observation = f"error: {{type(exc).__name__}}: {{exc}}"
        trajectory.append(f"[observation {{i}}] {{observation}}")
    result = await call_model(node, *extract, [], {{**values, "trajectory": "\\n".join(trajectory)}}, request)
    return {{**result, "trajectory": trajectory}}


def model_request(node_model, config, default):
    request = dict(node_model or default or {{}})
    if not request.get("model"):
        sys.exit("no model: pass --model provider/name")
    request.update(config)
    api_base = request.pop("api_base", None)
    if api_base:
        request["api_base"] = api_base
    request.pop("api_key_env", None)
    return request
'''


def _portable_source() -> str:
    parts = []
    for name in PORTABLE_MODULES:
        module = importlib.import_module(f"studio_prompts.portable.{name}")
        assert module.__file__ is not None  # a module file of this package
        text = Path(module.__file__).read_text(encoding="utf-8")
        text = text.replace("from __future__ import annotations\n", "")
        text = re.sub(r"^from \.\w+ import .*\n", "", text, flags=re.MULTILINE)
        parts.append(
            f"# --------------------------------------------------------------------------- "
            f"portable/{name}.py\n\n{text.strip()}\n"
        )
    return "\n\n".join(parts)


def _ident(text: str) -> str:
    return re.sub(r"\W", "_", text)


def export_python(workflow: Workflow, script_name: str = "workflow.py") -> str:
    functions: list[str] = []
    imports: set[str] = set()
    _emit_workflow(workflow, "run", functions, imports, set())
    usage = "".join(f"--input {name}=… " for name in workflow.spec.inputs)
    model = workflow.lm_override or workflow.lm
    default_model = repr(model.to_dict() if model else None)
    main = f"""

def main(argv=None):
    parser = argparse.ArgumentParser(description={workflow.spec.name!r})
    parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                        help="a workflow input; JSON values (lists, numbers) are parsed")
    parser.add_argument("--model", help="the model for nodes without their own, e.g. openai/gpt-4o-mini")
    parser.add_argument("--api-base", help="the server for that model (Ollama, vLLM, LM Studio, llama.cpp…)")
    args = parser.parse_args(argv)
    inputs = {{}}
    for item in args.input:
        key, _, raw = item.partition("=")
        try:
            inputs[key] = json.loads(raw)
        except ValueError:
            inputs[key] = raw
    default = dict(DEFAULT_MODEL or {{}})
    if args.model:
        default = {{"model": args.model}}
    if args.api_base:
        default["api_base"] = args.api_base
    print(json.dumps(asyncio.run(run(inputs, default)), ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
"""
    return (
        HEADER.format(name=workflow.spec.name, source=workflow.where, script=script_name, usage=usage)
        + "".join(f"{line}\n" for line in sorted(imports))
        + "\n\n"
        + _portable_source()
        + CALL_MODEL.format(default_model=default_model)
        + "\n\n"
        + "\n\n".join(functions)
        + main
    )


def _levels(workflow: Workflow) -> list[list[str]]:
    level: dict[str, int] = {}
    for node_id in workflow.order:
        level[node_id] = 1 + max((level[d] for d in workflow.deps[node_id]), default=-1)
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for node_id in workflow.order:
        out[level[node_id]].append(node_id)
    return out


def _ref(ref: str) -> str:
    source, _, port = ref.partition(".")
    return f"values[{source!r}][{port!r}]" if source != "input" else f"inputs[{port!r}]"


def _emit_workflow(workflow: Workflow, fn_name: str, functions: list[str], imports: set[str], seen: set[str]) -> None:
    body = [
        f"async def {fn_name}(inputs, default_model=None):",
        f'    """Workflow {workflow.spec.name!r}: inputs {", ".join(workflow.spec.inputs) or "none"}."""',
        "    values = {}",
    ]
    for level in _levels(workflow):
        calls = []
        for node_id in level:
            calls.append(_emit_node(workflow, node_id, fn_name, functions, imports, seen))
        targets = ", ".join(f"values[{n!r}]" for n in level)
        body.append(f"    ({targets},) = await asyncio.gather({', '.join(calls)})")
    outputs = ", ".join(f"{name!r}: {_ref(ref)}" for name, ref in workflow.spec.outputs.items())
    body.append(f"    return {{{outputs}}}")
    functions.append("\n".join(body))


def _emit_node(
    workflow: Workflow, node_id: str, parent_fn: str, functions: list[str], imports: set[str], seen: set[str]
) -> str:
    node = workflow.spec.nodes[node_id]
    bound = "{" + ", ".join(f"{port!r}: {_ref(ref)}" for port, ref in node.inputs.items()) + "}"
    if node.type in PREDICTORS:
        predictor = workflow.predictors[node_id]
        assert isinstance(predictor, Predict)  # a PREDICTORS node (ChainOfThought is a Predict)
        sig: SignatureSpec = predictor.signature
        fn = _ident(f"{parent_fn}_{node_id}")
        fmt = predictor.format or "chat"
        node_model = predictor.lm.to_dict() if predictor.lm else None
        functions.append(
            f"async def {fn}(values, default_model):\n"
            f"    return await call_model(\n"
            f"        {node_id!r}, {fmt!r}, {sig.instructions!r},\n"
            f"        {[tuple(f) for f in sig.inputs]!r},\n"
            f"        {[tuple(f) for f in sig.outputs]!r},\n"
            f"        {[dict(d) for d in predictor.demos]!r},\n"
            f"        values,\n"
            f"        model_request({node_model!r}, {predictor.config!r}, default_model))"
        )
        return f"{fn}({bound}, default_model)"
    if node.type == "prompts.python":
        module, _, attr = node.params["function"].partition(":")
        alias = _ident(f"fn_{node_id}_{attr}")
        imports.add(f"from {module} import {attr} as {alias}")
        return f"outputs_of(call_function({alias}, **{bound}))"
    if node.type == "prompts.workflow":
        sub = workflow.subworkflows[node_id]
        fn = _ident(f"{parent_fn}_{node_id}")
        if fn not in seen:
            seen.add(fn)
            _emit_workflow(sub, fn, functions, imports, seen)
        return f"{fn}({bound}, default_model)"
    if node.type == "prompts.react":
        return _emit_react(workflow, node_id, parent_fn, bound, functions, imports)
    runner = workflow._plugin_types.get(node.type)
    if runner is None:
        raise WorkflowError(f"{workflow.where}: node {node_id!r}: no installed plugin provides {node.type!r}")
    module, _, attr = runner.runner.partition(":")
    alias = _ident(f"node_{node.type}")
    imports.add(f"from {module} import {attr} as {alias}  # node type {node.type}")
    return f"outputs_of(call_function({alias}, {node.params!r}, {bound}))"


def _call_args(predictor) -> str:
    """A predictor's format, instructions and fields, as ``call_model`` takes them."""
    sig: SignatureSpec = predictor.signature
    return (
        f"({predictor.format or 'chat'!r}, {sig.instructions!r}, {[tuple(f) for f in sig.inputs]!r}, "
        f"{[tuple(f) for f in sig.outputs]!r})"
    )


def _emit_react(
    workflow: Workflow, node_id: str, parent_fn: str, bound: str, functions: list[str], imports: set[str]
) -> str:
    agent = workflow.predictors[node_id]
    assert isinstance(agent, ReAct)
    aliases = []
    for ref in workflow.spec.nodes[node_id].params.get("tools", []):
        module, _, attr = ref.partition(":")
        alias = _ident(f"tool_{node_id}_{attr}")
        imports.add(f"from {module} import {attr} as {alias}")
        aliases.append(alias)
    base: SignatureSpec = agent.signature
    node_model = agent.react.lm.to_dict() if agent.react.lm else None
    fn = _ident(f"{parent_fn}_{node_id}")
    functions.append(  # the step's prompt lists the tools: built from them when the script runs, as the engine does
        f"async def {fn}(values, default_model):\n"
        f"    tools = tool_table([{', '.join(aliases)}])\n"
        f"    step = ({agent.react.format or 'chat'!r}, *react_step(\n"
        f"        {base.instructions!r},\n"
        f"        {tuple(tuple(f) for f in base.inputs)!r},\n"
        f"        {tuple(tuple(f) for f in base.outputs)!r}, tools))\n"
        f"    return await react_loop(\n"
        f"        {node_id!r},\n"
        f"        step,\n"
        f"        {_call_args(agent.extract)},\n"
        f"        tools, {agent.max_steps}, values,\n"
        f"        model_request({node_model!r}, {agent.react.config!r}, default_model))"
    )
    return f"{fn}({bound}, default_model)"
