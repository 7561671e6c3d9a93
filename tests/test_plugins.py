"""Discovery and isolation of good and broken plugins."""

import pytest
import sample_plugins

from studio.api import JobKind
from studio.core.plugins import PluginHost

GOOD_SOURCE = """
from pydantic import BaseModel
from studio.api import hookimpl, JobKind, PluginInfo

class P(BaseModel):
    x: int = 1

@hookimpl
def studio_plugin_info():
    return PluginInfo(name="Installed good", version="2.0")

@hookimpl
def studio_job_kinds():
    return [JobKind("good.job", "Good job", P, "good_mod:run")]

def run(params, ctx):
    return params.x
"""


def test_entry_point_discovery_and_import_failure_isolated(plugin_distribution):
    plugin_distribution("good-plugin", {"goodp": "good_mod"}, {"good_mod": GOOD_SOURCE})
    plugin_distribution("broken-plugin", {"brokenp": "broken_mod"}, {"broken_mod": "raise ImportError('no such dep')"})
    plugin_distribution("exit-plugin", {"exitp": "exit_mod"}, {"exit_mod": "raise SystemExit(3)"})
    host = PluginHost()
    host.discover()
    good, broken, exiting = host.records["goodp"], host.records["brokenp"], host.records["exitp"]
    assert good.status == "loaded" and good.ok
    assert good.source == "package good-plugin" and good.version == "2.0" and good.title == "Installed good"
    assert broken.status == "failed"
    assert broken.problems[0].where == "import" and "no such dep" in broken.problems[0].message
    assert "ImportError" in broken.problems[0].traceback
    assert exiting.status == "failed" and "SystemExit" in exiting.problems[0].message
    assert "good.job" in host.job_kinds()  # the broken ones hid nothing
    assert host.records["diagnostics"].source == "built-in"


def test_hook_errors_are_isolated_per_plugin():
    host = PluginHost()
    host.register(sample_plugins.hook_raises, "raiser")
    host.register(sample_plugins.good, "good")
    kinds = host.job_kinds()
    assert "t.count" in kinds
    raiser = host.records["raiser"]
    assert raiser.display_status == "error"
    assert raiser.problems[0].where == "hook studio_job_kinds" and "hook exploded" in raiser.problems[0].message
    assert host.records["good"].ok


def test_wrong_item_types_and_duplicate_ids_are_reported():
    from types import SimpleNamespace

    from studio.api import hookimpl

    liar = SimpleNamespace(studio_job_kinds=hookimpl(lambda: ["not a job kind", sample_plugins.KINDS[0]]))
    host = PluginHost()
    host.register(sample_plugins.good, "good")
    host.register(liar, "liar")
    kinds = host.job_kinds()
    assert kinds["t.count"] is sample_plugins.KINDS[0]
    messages = [p.message for p in host.records["liar"].problems]
    assert any("expected JobKind" in m for m in messages)
    assert any("already taken" in m for m in messages)


def test_disabled_plugins_are_listed_not_loaded(plugin_distribution):
    plugin_distribution("good-plugin", {"goodp": "good_mod"}, {"good_mod": GOOD_SOURCE})
    host = PluginHost(disabled=["goodp"])
    host.discover()
    assert host.records["goodp"].status == "disabled"
    assert "good.job" not in host.job_kinds()


def test_open_path_first_claim_wins_and_errors_are_isolated(tmp_path):
    from types import SimpleNamespace

    from studio.api import hookimpl

    def explode(path):
        raise RuntimeError("open hook exploded")

    host = PluginHost()
    host.register(SimpleNamespace(studio_open_path=hookimpl(explode)), "exploder")
    host.register(sample_plugins.panel_raises, "bad")
    greet = tmp_path / "x.greet"
    greet.write_text("hi")
    plugin_id, action = host.open_path(greet)
    assert plugin_id == "bad" and action.panel == "bad:ok"
    assert host.open_path(tmp_path / "x.unknown") is None
    assert host.records["exploder"].display_status == "error"


def test_api_resolve_and_jobkind_defaults():
    from studio.api import resolve

    assert resolve("sample_plugins:count") is sample_plugins.count
    kind = JobKind("a.b", "A", sample_plugins.CountParams, "sample_plugins:count")
    assert kind.executor == "process"
    import pytest

    with pytest.raises(ValueError, match="expected 'module:attribute'"):
        resolve("no_colon_here")


EXTRA_SOURCE = """
from pydantic import BaseModel
from studio.api import (CliCommand, JobKind, LLMProvider, ModelPart, NodeType, PanelSpec, Port, hookimpl)

class P(BaseModel):
    x: int = 1

@hookimpl
def studio_job_kinds():
    return [JobKind("extra.job", "Extra job", P, "extra_mod:run")]

@hookimpl
def studio_panels():
    return [PanelSpec("extra:panel", "Extra", "extra_mod:panel")]

@hookimpl
def studio_workflow_nodes():
    return [NodeType("extra.node", "Extra node", "extra_mod:run", outputs=(Port("out"),))]

@hookimpl
def studio_model_parts():
    return [ModelPart("extra_attention", "attention", "Extra attention", "extra_mod:run")]

@hookimpl
def studio_llm_providers():
    return [LLMProvider("extra", "Extra models", "extra/", "extra_mod:run")]

@hookimpl
def studio_commands():
    return [CliCommand("extra", "an extra command", "extra_mod:run", "extra_mod:run")]

def run(*args):
    return 0
"""

PROBE_SOURCE = """
from pydantic import BaseModel
from studio.api import JobKind, NodeType, contributions, hookimpl

class P(BaseModel):
    pass

@hookimpl
def studio_job_kinds():
    return [JobKind("probe.seen", "What a worker sees", P, "probe_mod:seen", executor="process")]

@hookimpl
def studio_workflow_nodes():
    return [NodeType("probe.node", "Probe node", "probe_mod:seen")]

def seen(params, ctx):
    return {hook: sorted(item.id for item in contributions(hook))
            for hook in ("studio_workflow_nodes", "studio_model_parts", "studio_llm_providers")}
"""


def test_a_disabled_plugin_contributes_nothing_in_the_studio_its_workers_or_a_bare_process(
    plugin_distribution, make_studio, run_job
):
    """Issue 16: contributions() used a second host that ignored the disabled list."""
    from studio.api import contributions
    from studio.core.plugins import reset_process_host
    from studio.core.settings import update_settings

    plugin_distribution("extra-plugin", {"extrap": "extra_mod"}, {"extra_mod": EXTRA_SOURCE})
    plugin_distribution("probe-plugin", {"probep": "probe_mod"}, {"probe_mod": PROBE_SOURCE})
    update_settings(lambda s: setattr(s, "disabled_plugins", ["extrap"]))

    studio = make_studio(discover=True)
    assert studio.host.records["extrap"].status == "disabled"
    assert studio.host.records["probep"].status == "loaded"
    node_ids = {n.id for n in contributions("studio_workflow_nodes")}
    assert "probe.node" in node_ids and "extra.node" not in node_ids
    assert "extra_attention" not in {p.id for p in contributions("studio_model_parts")}
    assert "extra" not in {p.id for p in contributions("studio_llm_providers")}
    assert "extra.job" not in studio.jobs.kinds and "probe.seen" in studio.jobs.kinds
    assert "extra:panel" not in studio.host.panels()
    assert all(getattr(c, "name", "") != "extra" for _, c in studio.host.commands())

    job = run_job(studio, "probe.seen", {})  # a worker process builds its own host
    assert job.status == "succeeded", job.error
    assert "probe.node" in job.result["studio_workflow_nodes"]
    assert "extra.node" not in job.result["studio_workflow_nodes"]
    assert "extra_attention" not in job.result["studio_model_parts"]
    assert "extra" not in job.result["studio_llm_providers"]

    reset_process_host()  # a process with no studio (a script) reads the saved settings
    node_ids = {n.id for n in contributions("studio_workflow_nodes")}
    assert "probe.node" in node_ids and "extra.node" not in node_ids

    update_settings(lambda s: setattr(s, "disabled_plugins", []))  # enabled again: it contributes
    reset_process_host()
    assert "extra.node" in {n.id for n in contributions("studio_workflow_nodes")}


HOSTILE_SOURCE = """
import sys
from pydantic import BaseModel
from studio.api import CliCommand, JobKind, PluginInfo, hookimpl

class P(BaseModel):
    pass

@hookimpl
def studio_plugin_info():
    sys.exit(3)

@hookimpl
def studio_job_kinds():
    return [JobKind("x/../../escaped", "Escapes", P, "hostile_mod:run"),
            JobKind("hostile.bogus", "Bogus executor", P, "hostile_mod:run", executor="bogus"),
            JobKind("hostile.dict", "Params not a model", dict, "hostile_mod:run"),
            JobKind("diagnostics.stream", "Takes a built-in id", P, "hostile_mod:run"),
            JobKind("hostile.ok", "Fine", P, "hostile_mod:run")]

def configure(parser):
    sys.exit(4)

@hookimpl
def studio_commands():
    return [CliCommand("runs", "takes a built-in name", configure, "hostile_mod:run"),
            CliCommand("hostile", "exits while configuring", configure, "hostile_mod:run")]

def run(*args):
    return 0
"""


def test_a_hostile_plugin_is_reported_and_changes_nothing_else(plugin_distribution, make_studio, capsys):
    """sys.exit() in hooks, ids that would escape the workspace, bad executors and params,
    a built-in's job id or command name: each is the plugin's problem, never the studio's."""
    from studio.cli import main

    plugin_distribution("aaa-hostile", {"aaa_hostile": "hostile_mod"}, {"hostile_mod": HOSTILE_SOURCE})
    studio = make_studio(discover=True)
    kinds = studio.host.job_kinds()
    assert "hostile.ok" in kinds
    assert not {"x/../../escaped", "hostile.bogus", "hostile.dict"} & set(kinds)
    assert studio.host.owner("studio_job_kinds", "diagnostics.stream") == "diagnostics"  # built-ins register first
    problems = " | ".join(p.message for p in studio.host.records["aaa_hostile"].problems)
    for fragment in ("SystemExit: 3", "not a plain name", "executor must be", "pydantic model class", "already taken"):
        assert fragment in problems, problems
    assert main(["runs", "list"]) == 0  # the built-in 'runs' command is not replaced
    assert main(["hostile"]) == 2  # its configure exited: the command is reported broken, the CLI lives
    err = capsys.readouterr().err
    assert "the 'hostile' command is broken: SystemExit: 4" in err


OLD_COMMAND_SOURCE = """
from studio.api import CliCommand, hookimpl

def configure(parser):
    pass

def old(args):
    return 0

def crashes(args, ctx):
    raise KeyError("missing")

def not_a_code(args, ctx):
    return "abc"

@hookimpl
def studio_commands():
    return [CliCommand("old", "run(args) only", configure, old),
            CliCommand("crashes", "raises", configure, crashes),
            CliCommand("notacode", "returns text", configure, not_a_code)]
"""


def test_a_plugin_command_that_fails_is_the_plugins_failure(plugin_distribution, studio_home, capsys):
    from studio.cli import main

    plugin_distribution("old-plugin", {"oldp": "old_mod"}, {"old_mod": OLD_COMMAND_SOURCE})
    assert main(["old"]) == 1
    err = capsys.readouterr().err
    assert "the 'old' command (plugin 'oldp') failed: TypeError" in err and "must take (args, ctx)" in err
    assert "internal error" not in err
    assert main(["crashes"]) == 1
    assert "the 'crashes' command (plugin 'oldp') failed: KeyError" in capsys.readouterr().err
    assert main(["notacode"]) == 1
    assert "returned 'abc', not an exit code" in capsys.readouterr().err


def test_disabling_a_plugin_is_said_where_its_things_are_asked_for(plugin_distribution, make_studio, capsys):
    from studio.cli import main
    from studio.core.settings import update_settings
    from studio.runtime.jobs import JobError

    update_settings(lambda s: setattr(s, "disabled_plugins", ["rag"]))
    assert main(["rag", "status"]) == 2
    assert "plugin 'rag', which is disabled" in capsys.readouterr().err
    studio = make_studio(discover=True)
    with pytest.raises(JobError, match="the plugin 'rag' is disabled"):
        studio.jobs.validate("rag.index", {})
    assert main(["plugins", "disable", "studio"]) == 2
    assert "cannot be disabled" in capsys.readouterr().err


def test_a_plugin_folder_that_is_not_a_folder_or_is_the_shells_is_refused(tmp_path):
    from studio.api import Folders, StudioFileError

    folders = Folders(tmp_path)
    (tmp_path / "rag").write_text("a file where the plugin's folder goes")
    with pytest.raises(StudioFileError, match="is not a folder"):
        folders.plugin_dir("rag")
    assert (tmp_path / "rag").read_text().startswith("a file")  # left as it was
    for name in ("runs", "data", "workflows", "../up", ""):
        with pytest.raises(ValueError, match="not a plugin id"):
            folders.plugin_dir(name)
    assert folders.plugin_dir("fresh") == tmp_path / "fresh" and (tmp_path / "fresh").is_dir()
    assert folders.plugin_dir("later", create=False) == tmp_path / "later" and not (tmp_path / "later").exists()
