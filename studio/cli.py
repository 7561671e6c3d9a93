"""``tensor-studio``: the GUI by default, headless sub-commands for scripting.

    tensor-studio                         open the studio
    tensor-studio plugins list            discovered plugins, with errors
    tensor-studio plugin new NAME         write a new plugin project (pyproject, hooks, job, panel, tests)
    tensor-studio jobs kinds              job kinds and their parameters
    tensor-studio jobs run KIND --params FILE [--set k=v …]
    tensor-studio runs list | show ID | delete ID… [--yes]
    tensor-studio doctor [--gui]

Exit codes: 0 ok, 1 the job failed, 2 bad input (params, workspace, files), 130 interrupted.
Nothing here imports Qt or torch at module level: the headless commands stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio import __version__

if TYPE_CHECKING:
    from pydantic import BaseModel

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


# ----------------------------------------------------------------------------- parser


class OneLineParser(argparse.ArgumentParser):
    """A bad or missing argument is one ``error:`` line and exit 2, like every other bad
    input; the usage is one ``--help`` away. Sub-commands (plugins' too) inherit it."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(extra_commands: Sequence[Any] = ()) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tensor-studio", description="Tensor Studio: build AI from the tensor up.")
    parser.add_argument("--version", action="version", version=f"tensor-studio {__version__}")
    parser.add_argument("--workspace", "-w", type=Path, help="workspace folder (default: the last one used)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the studio window (the default)")
    gui.add_argument("paths", nargs="*", type=Path, help="files or folders to open")

    plugins = sub.add_parser(
        "plugins",
        aliases=["plugin"],
        help="list, enable or disable plugins; start a new one",
        description="Plugins: list, enable or disable them, or write a new one "
        "('plugin' is the same command: tensor-studio plugin new NAME).",
    )
    plugins.set_defaults(command="plugins")  # `plugin` is an alias
    psub = plugins.add_subparsers(dest="action", required=True, metavar="ACTION")
    plist = psub.add_parser("list", help="discovered plugins and their status")
    plist.add_argument("--json", action="store_true")
    for action in ("enable", "disable"):
        psub.add_parser(action, help=f"{action} a plugin (remembered)").add_argument("plugin_id")
    pnew = psub.add_parser(
        "new",
        help="write a new plugin package, ready to pip install and test",
        description="Write the project of a new plugin into DIR/studio-NAME-plugin: pyproject.toml "
        "(entry point), hooks, a job kind, a panel and tests. Nothing is overwritten.",
    )
    pnew.add_argument("name", metavar="NAME", help="the plugin id: lowercase letters, digits, '_' (e.g. my_tool)")
    pnew.add_argument(
        "--dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where to create the project folder (default: the current folder)",
    )

    jobs = sub.add_parser("jobs", help="run jobs headless")
    jsub = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    kinds = jsub.add_parser("kinds", help="job kinds and their parameters")
    kinds.add_argument("--json", action="store_true", help="print the JSON schema of each kind's params")
    run = jsub.add_parser("run", help="run a job, streaming progress and metrics")
    run.add_argument("kind")
    run.add_argument("--params", type=Path, help="JSON file with the job's parameters")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set one parameter (VALUE is parsed as JSON if it can be)",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar, only the result")

    runs = sub.add_parser("runs", help="past runs in the workspace")
    rsub = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    rlist = rsub.add_parser("list", help="runs, newest first")
    rlist.add_argument("--json", action="store_true")
    show = rsub.add_parser("show", help="a run's params, status, metrics and last log lines")
    show.add_argument("run_id", help="run id, or a unique part of one")
    show.add_argument("--json", action="store_true")
    delete = rsub.add_parser("delete", help="delete runs (their folders), never an active one")
    delete.add_argument("run_ids", nargs="+", metavar="ID", help="run ids, in full (as runs list prints them)")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask (needed when not on a terminal)")

    doctor = sub.add_parser("doctor", help="check the installation")
    doctor.add_argument("--gui", action="store_true", help="also open the window offscreen and time the start-up")

    for command in extra_commands:
        from studio.api import resolve

        cmd_parser = sub.add_parser(command.name, help=command.help, add_help=False)
        cmd_parser.set_defaults(plugin_command=command)
        try:
            cmd_parser.add_argument("-h", "--help", action="help", help="show this help message and exit")
            resolve(command.configure)(cmd_parser)
        except (Exception, SystemExit) as exc:  # a broken plugin must not take the whole CLI down
            cmd_parser.set_defaults(
                plugin_broken=f"the '{command.name}' command is broken: {type(exc).__name__}: {exc}"
            )
            cmd_parser.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


# ----------------------------------------------------------------------------- commands


def cmd_plugins(args, studio) -> int:
    if args.action in ("enable", "disable"):
        if args.plugin_id not in studio.host.records:
            raise CliError(f"no plugin {args.plugin_id!r}; see 'tensor-studio plugins list'")
        if args.plugin_id == "studio":
            raise CliError(
                "'studio' is the shell itself (its Jobs, Metrics, Log and Plugins panels); it cannot be disabled"
            )

        def change(settings) -> None:
            disabled = set(settings.disabled_plugins)
            (disabled.add if args.action == "disable" else disabled.discard)(args.plugin_id)
            settings.disabled_plugins = sorted(disabled)

        studio.update_settings(change, strict=True)
        print(f"{args.plugin_id}: {args.action}d (takes effect on the next start)")
        return EXIT_OK
    records = list(studio.host.records.values())
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "name": r.title,
                        "version": r.version,
                        "source": r.source,
                        "status": r.display_status,
                        "problems": [
                            {"where": p.where, "message": p.message, "traceback": p.traceback} for p in r.problems
                        ],
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return EXIT_OK
    rows = [(r.id, r.version or "-", r.display_status, r.source) for r in records]
    _table(("PLUGIN", "VERSION", "STATUS", "SOURCE"), rows)
    for r in records:
        for p in r.problems:
            print(f"\n{r.id}: {p.where}: {p.message}", file=sys.stderr)
    return EXIT_OK


def cmd_plugin_new(args, studio) -> int:
    """``plugin new NAME``: write a plugin project (studio/scaffold); a bad name or a folder
    that is not empty is refused before anything is written."""
    from studio.scaffold import ScaffoldError, create, values

    taken = {r.id: r.source for r in studio.host.records.values()}
    try:
        folder, files = create(args.name, args.dir, taken)
    except ScaffoldError as exc:
        raise CliError(str(exc)) from None
    shown = str(folder) if folder.is_absolute() or folder.parts[0] == ".." else f".{os.sep}{folder}"  # pip: a path
    print(f"created {shown} (plugin {args.name!r}, package {values(args.name)['package']}):")
    for name in files:
        print(f"  {name}")
    import shlex

    print(
        f"next:\n  pip install -e {shlex.quote(shown)}\n  python -m pytest {shlex.quote(os.path.join(shown, 'tests'))}"
        f"\n  tensor-studio plugins list\n  tensor-studio jobs run {args.name}.count --set steps=5"
    )
    return EXIT_OK


def cmd_job_kinds(args, studio) -> int:
    kinds = studio.host.job_kinds()
    if args.json:
        print(
            json.dumps(
                {
                    k: {"title": v.title, "executor": v.executor, "params": v.params.model_json_schema()}
                    for k, v in kinds.items()
                },
                indent=2,
            )
        )
        return EXIT_OK
    for kind in kinds.values():
        print(f"{kind.id}  ({kind.executor})  {kind.title}")
        for name, field in kind.params.model_fields.items():
            default = (
                "required"
                if field.is_required()
                else f"default {field.default_factory()!r}"
                if field.default_factory is not None
                else f"default {field.default!r}"
            )
            desc = f" — {field.description}" if field.description else ""
            print(f"    {name}: {_type_name(field.annotation)} ({default}){desc}")
    return EXIT_OK


def load_params(path: Path | None, sets: dict[str, Any]) -> dict[str, Any]:
    """The params file (if any) with the parsed ``--set`` values laid over it."""
    params: dict[str, Any] = {}
    if path is not None:
        from studio.core.files import read_json

        data = read_json(path, allow_nan=False)
        if not isinstance(data, dict):
            raise CliError(f"{path} must hold a JSON object of parameters, not {type(data).__name__}")
        params.update(data)
    from studio.api import merge_settings

    return merge_settings(params, sets)


def parse_sets(items: list[str]) -> dict[str, Any]:
    from studio.api import parse_assignments

    try:
        return parse_assignments(items)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def unknown_setting(model: type[BaseModel], values: dict[str, Any], prefix: str = "") -> tuple[str, list[str]] | None:
    """The first key of ``values`` that ``model`` (a pydantic model) has no field for, as a
    dotted path, with the fields its group does have; nested groups are checked too. A
    typo in ``--set`` must not pass silently."""
    from pydantic import BaseModel

    for key, value in values.items():
        field = model.model_fields.get(key)
        if field is None:
            return prefix + key, list(model.model_fields)
        group = next(
            (
                t
                for t in (field.annotation, *getattr(field.annotation, "__args__", ()))
                if isinstance(t, type) and issubclass(t, BaseModel)
            ),
            None,
        )
        if group is not None and isinstance(value, dict):
            found = unknown_setting(group, value, f"{prefix}{key}.")
            if found:
                return found
    return None


def cmd_jobs_run(args, studio) -> int:
    return run_job_to_end(studio, args.kind, job_params(studio, args.kind, args.params, args.set), quiet=args.quiet)


def job_params(studio, kind_id: str, path: Path | None, set_items: list[str]) -> dict[str, Any]:
    """A job's parameters from a params file and ``--set`` items, checked against the job
    kind's schema; a ``--set`` key the job has no setting for is refused (a typo would
    otherwise be ignored)."""
    sets = parse_sets(set_items)
    params = load_params(path, sets)
    kind = studio.jobs.kinds.get(kind_id)
    unknown = unknown_setting(kind.params, sets) if kind is not None else None
    if unknown:
        setting, known = unknown
        raise CliError(f"--set {setting}: {kind_id} has no such setting (the settings there: {', '.join(known)})")
    studio.jobs.validate(kind_id, params)
    return params


def run_job_to_end(studio, kind: str, params: dict[str, Any], quiet: bool = False) -> int:
    """Run one job with a progress bar on stderr; its result is printed as JSON on stdout."""
    studio.workspace.check_writable()
    studio.jobs.validate(kind, params)  # fail before any folder is made
    return asyncio.run(_run_job(studio, kind, params, quiet=quiet))


async def _run_job(studio, kind: str, params: dict[str, Any], quiet: bool) -> int:
    from tqdm import tqdm

    from studio.api import Event, Log, Metric, Progress, RunStatus

    job = studio.jobs.submit(kind, params)
    print(f"run {job.id}\n  folder {job.run.dir}", file=sys.stderr)
    # disable=None: a live bar on a terminal, plain log lines when piped (CI logs stay short)
    bar = (
        None
        if quiet
        else tqdm(
            total=None, desc=kind, unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=0.2, disable=None
        )
    )
    latest: dict[str, float] = {}

    def on_events(run_id: str, events: list[Event]) -> None:
        if run_id != job.id or bar is None:
            return
        for e in events:
            match e:
                case Metric(name=name, value=value) if value is not None:
                    latest[name] = value
                case Progress(done=done, total=total):
                    if total and bar.total != total:
                        bar.total = total
                    bar.n = done
                case Log(level=level, text=text) if level != "error":
                    bar.write(f"  {text}", file=sys.stderr)
        if latest:
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(latest.items())[:4]}, refresh=False)
        bar.refresh()

    unsubscribe = studio.bus.subscribe(on_events)
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        if interrupted:  # second Ctrl-C: stop waiting for the cooperative cancel
            raise KeyboardInterrupt
        interrupted = True
        print("\ncancelling… (Ctrl-C again to force)", file=sys.stderr)
        studio.jobs.cancel(job.id)

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
        pass
    try:
        await studio.jobs.wait(job)
    finally:
        unsubscribe()
        if bar is not None:
            bar.close()
    summary = ", ".join(f"{k}={v:.4g}" for k, v in latest.items())
    print(f"{job.status} in {job.elapsed:.1f} s" + (f"  ({summary})" if summary else ""), file=sys.stderr)
    if job.status == RunStatus.SUCCEEDED:
        if job.result is not None:
            print(json.dumps(job.result))
        return EXIT_OK
    if job.status == RunStatus.CANCELLED:
        return EXIT_INTERRUPTED
    print(f"error: {job.error}", file=sys.stderr)
    print(f"  (the full traceback is in {job.run.events_path})", file=sys.stderr)
    return EXIT_FAILED


def _delete_runs(args, studio) -> int:
    """``runs delete ID… [--yes]``: every id checked first (exit 2, nothing deleted, when
    one names no run or an active one); asks on a terminal unless --yes. A run deleted
    only in part (a file that cannot be removed) is said, with where its rest is: exit 1."""
    from studio.core.runs import DeleteIncomplete

    runs = studio.store.deletable(args.run_ids)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"deleting {len(runs)} run(s) needs --yes when not asked on a terminal")
        print(f"Delete {len(runs)} run(s) and everything in their folders?")
        for run in runs:
            print(f"  {run.id}")
        try:
            answer = input("[y/N] ")
        except EOFError:  # Ctrl-D: no answer is a no
            answer = ""
            print()
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return EXIT_OK
    for problem in studio.store.remove_leftovers():  # what an earlier delete could not remove
        print(f"warning: left from an earlier delete: {problem}", file=sys.stderr)
    try:
        deleted = studio.store.delete(r.id for r in runs)
    except DeleteIncomplete as exc:
        for run_id in exc.deleted:
            print(f"deleted {run_id}")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for run_id in deleted:
        print(f"deleted {run_id}")
    return EXIT_OK


def _run_info(run) -> dict[str, Any]:
    """A run's run.json as the CLI shows it: its id is its folder's name (what every
    command takes); an id that run.json says otherwise (a copied folder) is kept as
    ``id_in_run_json``."""
    info = dict(run.info())
    stored = info.get("id")
    info["id"] = run.id
    if stored is not None and stored != run.id:
        info["id_in_run_json"] = stored
    return info


def cmd_runs(args, studio) -> int:
    from studio.core.files import StudioFileError

    if args.action == "list":
        studio.store.check_readable()
        runs = studio.store.list()
        infos = [_run_info(r) for r in runs]
        leftovers = studio.store.leftovers()
        if leftovers:
            print(
                f"note: {len(leftovers)} folder(s) of deleted runs could not be removed completely, e.g. "
                f"{leftovers[0]} (the next 'runs delete' tries again)",
                file=sys.stderr,
            )
        if args.json:
            print(json.dumps(infos, indent=2, default=str))
            return EXIT_OK
        if not runs:
            print(f"no runs yet in {studio.workspace.root}")
            return EXIT_OK
        rows = [
            (r.id, i.get("status", "?"), _duration(i), _when(i.get("created")))
            for r, i in zip(runs, infos, strict=True)
        ]
        _table(("RUN", "STATUS", "TIME", "CREATED"), rows)
        return EXIT_OK
    if args.action == "delete":
        return _delete_runs(args, studio)
    run = studio.store.find(args.run_id)
    info = _run_info(run)
    try:
        metrics, logs, events_problem = run.metrics(), run.last_logs(10), None
    except OSError as exc:  # a folder or log this user may not read: the rest still shows
        metrics, logs = {}, []
        events_problem = f"cannot read {exc.filename or run.events_path}: {exc.strerror or exc}"
    try:
        params: Any = run.params()
    except StudioFileError as exc:  # shown as what it is; the rest of the run still shows
        params = {"unreadable": str(exc)}
    if args.json:
        print(
            json.dumps(
                {
                    "info": info,
                    "params": params,
                    "metrics": {
                        k: {"steps": len(v[0]), "last": v[1][-1], "min": min(_numbers(v[1]), default=None)}
                        for k, v in metrics.items()
                    },
                    **({"events_error": events_problem} if events_problem else {}),
                },
                indent=2,
                default=str,
            )
        )
        return EXIT_OK
    print(
        f"run      {run.id}\nkind     {info.get('kind')}\nstatus   {info.get('status')}\n"
        f"time     {_duration(info)}\nfolder   {run.dir}"
    )
    if info.get("error"):
        print(f"error    {info['error']}")
    print("params   " + json.dumps(params, sort_keys=True))
    if events_problem:
        print(f"events   {events_problem}")
    if metrics:
        print("metrics")
        _table(
            ("  NAME", "POINTS", "LAST", "MIN"),
            [
                (f"  {k}", len(v[1]), _number(v[1][-1]), _number(min(_numbers(v[1]), default=None)))
                for k, v in metrics.items()
            ],
        )
    if logs:
        print("last log lines")
        for line in logs:
            print(f"  {line}")
    return EXIT_OK


def cmd_doctor(args, studio) -> int:
    import platform

    from studio.core.secrets import keyring_status

    print(f"tensor-studio {__version__}  python {platform.python_version()}  {platform.platform()}")
    for module in ("PySide6", "pyqtgraph", "qasync", "pluggy", "pydantic", "numpy", "torch"):
        print(f"  {module:<10} {_module_version(module)}")
    print("devices")
    for line in _devices():
        print(f"  {line}")
    print(f"workspace {studio.workspace.root}")
    print(f"keyring   {keyring_status().explanation}")
    from studio.core.display import check_display

    display = check_display()
    platform_name = os.environ.get("QT_QPA_PLATFORM") or "default"
    print(f"display   {display or f'ok (Qt platform: {platform_name})'}")
    failed = 0
    print("plugins")
    for r in studio.host.records.values():
        print(f"  {r.id:<14} {r.display_status:<9} {r.source}")
        for p in r.problems:
            failed += 1
            print(f"      {p.where}: {p.message}")
    for message in studio.messages:
        print(f"note: {message}")
    if args.gui:
        from studio.qt.app import probe_gui

        report = probe_gui(studio)
        print(
            f"gui       window shown in {report['startup_s'] * 1000:.0f} ms "
            f"(process start to first paint {report['since_process_start_s'] * 1000:.0f} ms), "
            f"{report['panels']} panels created"
        )
        for problem in report["panel_problems"]:
            failed += 1
            print(f"      {problem}")
    return EXIT_OK if not failed else EXIT_FAILED


# ----------------------------------------------------------------------------- helpers


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    for row in (tuple(headers), *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _numbers(values: list) -> list[float]:
    return [v for v in values if v is not None]


def _number(value: Any) -> str:
    return "nan" if value is None else f"{value:.5g}"


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _duration(info: dict) -> str:
    start, end = info.get("started"), info.get("finished")
    if not isinstance(start, (int, float)) or not start:
        return "-"
    try:
        return f"{(end if isinstance(end, (int, float)) and end else time.time()) - start:.1f} s"
    except OverflowError:  # a hand-edited run.json with a number no clock gives
        return "-"


def _when(stamp: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if isinstance(stamp, (int, float)) else "-"
    except (OverflowError, OSError, ValueError):  # a hand-edited run.json
        return "-"


def _module_version(name: str) -> str:
    from importlib import metadata

    dist = {"PySide6": "PySide6-Essentials"}.get(name, name)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _devices() -> list[str]:
    """CPU always; CUDA and MPS if torch is installed and sees them (torch imported only here)."""
    import os

    lines = [f"cpu   {os.cpu_count()} cores"]
    try:
        import torch
    except ImportError:
        return lines + ["torch is not installed: no training devices"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            lines.append(f"cuda:{i} {props.name}, {props.total_memory / 2**30:.1f} GiB")
    else:
        lines.append("cuda  not available")
    mps = getattr(torch.backends, "mps", None)
    lines.append("mps   available" if mps is not None and mps.is_available() else "mps   not available")
    return lines


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever goes wrong reaches the terminal as one line: bad input
    exits 2, a failed job 1; an unexpected error also exits 1, its traceback saved to a
    file the line names (printed with ``--verbose``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # text from a hand-edited file may hold what no terminal can show
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        return _main(argv)
    except BrokenPipeError:  # `tensor-studio runs list | head`: the reader has all it wanted
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:  # a bug: say so in one line, keep the details
        if "--verbose" in argv or "-v" in argv:
            raise
        print(
            f"error: internal error: {type(exc).__name__}: {_first_line(exc)} "
            f"(please report it; details in {_save_crash_report()})",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _main(argv: list[str]) -> int:
    bad = next((a for a in argv if not _is_utf8(a)), None)
    if bad is not None:
        print(
            f"error: argument {os.fsencode(bad)!r} is not valid UTF-8 text; rename the file or pass the text in UTF-8",
            file=sys.stderr,
        )
        return EXIT_USAGE
    # Global options first: plugins (and so their sub-commands) load only after we know
    # which workspace and settings to use.
    pre_parser = argparse.ArgumentParser(add_help=False)
    pre_parser.add_argument("--workspace", "-w", type=Path)
    pre_parser.add_argument("--verbose", "-v", action="store_true")
    pre, rest = pre_parser.parse_known_args(argv)
    command = rest[0] if rest and not rest[0].startswith("-") else None
    logging.basicConfig(
        level=logging.DEBUG if pre.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:  # the terminal gets warnings; the Log panel gets more
        handler.setLevel(logging.DEBUG if pre.verbose else logging.WARNING)
    from studio.core.files import StudioFileError
    from studio.runtime.jobs import JobError
    from studio.session import Studio

    try:
        studio = Studio.load(pre.workspace, create=command in (None, "gui"))
        extra = plugin_commands(studio)
        if command is not None and command in studio.host.disabled and command not in {c.name for c in extra}:
            raise CliError(
                f"'{command}' is a command of the plugin {command!r}, which is disabled; "
                f"enable it with 'tensor-studio plugins enable {command}'"
            )
        args = build_parser(extra).parse_args(argv)
        if args.command in (None, "gui"):
            from studio.core.display import check_display
            from studio.core.paths import config_dir
            from studio.qt.app import run_gui

            problem = check_display(ok_stamp=config_dir() / "qt-platform-ok")
            if problem is not None:
                raise CliError(str(problem))
            # the workspace the GUI opens is the last one used, written now (it was never
            # written: the loaded settings already named it, so saving found no change): the
            # CLI without --workspace (a studio/<run id> model, say) and the next GUI open it
            root = studio.workspace.root
            studio.update_settings(lambda settings: settings.remember_workspace(root))
            return run_gui(studio, getattr(args, "paths", []))
        if getattr(args, "plugin_command", None) is not None:
            return run_plugin_command(args, studio)
        commands = {
            ("plugins",): cmd_plugins,
            ("plugins", "new"): cmd_plugin_new,
            ("jobs", "kinds"): cmd_job_kinds,
            ("jobs", "run"): cmd_jobs_run,
            ("runs",): cmd_runs,
            ("doctor",): cmd_doctor,
        }
        action: tuple[str, ...] = (args.command, getattr(args, "action", None) or "")
        handle = commands[action] if action in commands else commands[(args.command,)]
        return handle(args, studio)  # headless commands write settings only when asked to
    except (CliError, JobError, StudioFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a byte the terminal's locale could not decode
        return False


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush does
    not raise (and print) the same error again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _save_crash_report() -> str:
    """The current exception's traceback in ``<data dir>/crash-reports/``; its path, or
    'the output above' when it cannot be written (then it is printed)."""
    import traceback

    from studio.core.paths import data_dir

    text = traceback.format_exc()
    try:
        folder = data_dir() / "crash-reports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"cli-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
        path.write_text(
            f"tensor-studio {__version__}\nargv: {sys.argv!r}\n\n{text}", encoding="utf-8", errors="backslashreplace"
        )
        return str(path)
    except OSError:
        print(text, file=sys.stderr)
        return "the output above"


class StudioCliContext:
    """The ``CliContext`` a plugin's sub-command gets (see ``studio.api.CliContext``)."""

    def __init__(self, studio, plugin_id: str):
        from studio.api import Folders

        self._studio = studio
        self.plugin_id = plugin_id
        self.folders = Folders(studio.workspace.root)

    @property
    def workspace(self) -> Path:
        return self._studio.workspace.root

    @property
    def data_dir(self) -> Path:
        return self.folders.plugin_dir(self.plugin_id)

    def job_params(self, kind: str, params_file: Path | None, set_items: list[str]) -> dict[str, Any]:
        return job_params(self._studio, kind, params_file, set_items)

    def run_job(self, kind: str, params: Any, quiet: bool = False) -> int:
        return run_job_to_end(self._studio, kind, params, quiet)


BUILT_IN_COMMANDS = frozenset({"gui", "plugins", "plugin", "jobs", "runs", "doctor"})


def plugin_commands(studio) -> list[Any]:
    """The plugins' CLI commands, each name once: a name the CLI has, or an earlier plugin
    took, is reported against the plugin that asked for it and left out."""
    from studio.api import CliCommand

    taken: set[str] = set(BUILT_IN_COMMANDS)
    commands = []
    for plugin_id, command in studio.host.commands():
        if not isinstance(command, CliCommand):
            continue
        name: Any = command.name  # declared text; a plugin may hand anything
        if not isinstance(name, str) or name in taken or not name.isidentifier():
            problem = ValueError(f"the command name {name!r} is taken or not a word")
            studio.host.report_problem(plugin_id, f"command {name}", problem)
            continue
        taken.add(name)
        commands.append(command)
    return commands


def run_plugin_command(args, studio) -> int:
    """A plugin's sub-command: ``run(args, ctx)`` with a StudioCliContext. What goes wrong
    in it is said as the plugin's, not the studio's: bad input (ValueError,
    StudioFileError) exits 2; anything else, or a result that is no exit code, exits 1
    with the plugin named and the traceback in the crash reports."""
    from studio.api import resolve
    from studio.core.files import StudioFileError

    if getattr(args, "plugin_broken", None):
        raise CliError(args.plugin_broken)
    command = args.plugin_command
    plugin_id = next((pid for pid, c in studio.host.commands() if c is command), "studio")
    what = f"the '{command.name}' command (plugin {plugin_id!r})"
    try:
        run = resolve(command.run)
        code = run(args, StudioCliContext(studio, plugin_id))
    except (CliError, StudioFileError, ValueError) as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        print(
            f"error: {what} failed: {type(exc).__name__}: {_first_line(exc)}{_old_signature(run_or_none(command))} "
            f"(details in {_save_crash_report()})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if code is None:
        return EXIT_OK
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
        print(f"error: {what} returned {code!r}, not an exit code (0-255)", file=sys.stderr)
        return EXIT_FAILED
    return code


def run_or_none(command: Any) -> Any:
    from studio.api import resolve

    try:
        return resolve(command.run)
    except Exception:
        return None


def _old_signature(run: Any) -> str:
    """A hint when a command's ``run`` takes only ``args`` (the form before CliContext)."""
    import inspect

    try:
        params = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        return ""
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if len(positional) == 1 and not varargs:
        return " — its run(args) is written for an older studio: it must take (args, ctx)"
    return ""


if __name__ == "__main__":
    sys.exit(main())
