"""``tensor-studio plugin new NAME``: write a third-party plugin package, ready to install.

The package is made from the files under ``template/`` (shipped with tensor-studio as
package data). Each is a ``.tmpl`` file whose path and text may hold ``{{placeholder}}``s
(see :func:`values`); ``dot-`` at the start of a file name becomes ``.``. The result has
the shape of the built-in plugins: ``hooks.py`` (the entry point), ``config.py`` (params
models), ``jobs.py`` (runners), ``qt/<name>_panel.py`` (a panel), and tests using the
studio's pytest fixtures.

Nothing the user has is ever overwritten: the target folder must not exist, or be empty,
and every file is created exclusively.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from studio import __version__

TEMPLATE_SUFFIX = ".tmpl"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME_LENGTH = 40
RESERVED_IDS = frozenset({"studio", "runs", "workflows", "data"})  # the shell's id and its workspace folders
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


class ScaffoldError(ValueError):
    """A name or target the scaffold refuses; the message is one line meant for the user."""


def check_name(name: str, taken: Mapping[str, str] | None = None) -> None:
    """Refuse a plugin name that is not a lowercase identifier-like word, or that is the id
    of a plugin already there (``taken``: plugin id -> where it comes from, e.g. "built-in")."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH or name.endswith("_"):
        raise ScaffoldError(
            f"plugin name {name!r} is not valid: use lowercase letters, digits and '_', starting "
            f"with a letter, at most {MAX_NAME_LENGTH} characters (e.g. 'hello' or 'my_tool')"
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"plugin name {name!r} is a Python keyword; choose another name")
    source = (taken or {}).get(name)
    if source is not None:
        where = "a built-in plugin" if source == "built-in" else f"an installed plugin ({source})"
        raise ScaffoldError(f"plugin name {name!r} is taken by {where}; choose another name")
    if name in RESERVED_IDS:
        raise ScaffoldError(
            f"plugin name {name!r} is reserved: a plugin's files go in <workspace>/{name}/, which is the "
            "studio's own folder; choose another name"
        )


def values(name: str) -> dict[str, str]:
    """What the placeholders stand for, for the plugin ``name`` (``my_tool``)."""
    return {
        "name": name,  # the plugin id (entry-point name) and the prefix of its job kinds: my_tool.count
        "package": f"studio_{name}",  # the import package: studio_my_tool
        "dist": f"studio-{name.replace('_', '-')}-plugin",  # the distribution (and folder): studio-my-tool-plugin
        "title": name.replace("_", " ").capitalize(),  # what the studio shows: My tool
        "camel": "".join(part.capitalize() for part in name.split("_")),  # class names: MyToolPanel
        "studio_version": __version__,  # the tensor-studio it was made with (its minimum)
    }


def project_folder(name: str, parent: Path) -> Path:
    """Where ``plugin new NAME --dir PARENT`` writes: ``PARENT/studio-NAME-plugin``."""
    return Path(parent) / values(name)["dist"]


def substitute(text: str, names: Mapping[str, str], where: str = "template") -> str:
    """``{{name}}`` -> ``names["name"]``; an unknown placeholder is an error, not left in."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in names:
            raise KeyError(f"{where}: unknown placeholder {{{{{key}}}}}")
        return names[key]

    return _PLACEHOLDER.sub(replace, text)


def template_root() -> Traversable:
    return resources.files(__name__) / "template"


def _walk(folder: Traversable, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _walk(entry, (*prefix, entry.name))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            yield (*prefix, entry.name), entry


def render(name: str) -> dict[str, str]:
    """The project's files for plugin ``name``: relative POSIX path -> text."""
    names = values(name)
    files: dict[str, str] = {}
    for parts, entry in _walk(template_root()):
        where = "/".join(parts)
        *folders, filename = (substitute(part, names, where) for part in parts)
        filename = filename.removesuffix(TEMPLATE_SUFFIX)
        if filename.startswith("dot-"):
            filename = "." + filename.removeprefix("dot-")
        files["/".join([*folders, filename])] = substitute(entry.read_text(encoding="utf-8"), names, where)
    if not files:
        raise RuntimeError("the plugin template is missing from this installation of tensor-studio")
    return files


def create(name: str, parent: Path, taken: Mapping[str, str] | None = None) -> tuple[Path, list[str]]:
    """Write the project of plugin ``name`` into ``parent/studio-NAME-plugin``; returns the
    folder and the files written. Refuses (ScaffoldError) a bad name or a folder that is
    not empty; never overwrites a file."""
    check_name(name, taken)
    target = project_folder(name, parent)
    try:
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise ScaffoldError(f"{target} already exists and is not a folder; nothing was written")
        if target.is_dir() and any(target.iterdir()):
            raise ScaffoldError(
                f"{target} already exists and is not empty; nothing was written "
                "(choose another --dir, or move that folder away)"
            )
    except OSError as exc:  # an unreadable folder, a name too long for the file system
        raise ScaffoldError(f"cannot use {target}: {exc.strerror or exc}; nothing was written") from None
    files = render(name)
    made: list[Path] = []  # what this call created, removed again if it cannot finish
    try:
        for folder in reversed([target, *target.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
        for relative, text in files.items():
            path = target.joinpath(*relative.split("/"))
            if not path.parent.exists():
                path.parent.mkdir(parents=True)
                made.append(path.parent)
            with path.open("x", encoding="utf-8", newline="\n") as out:  # "x": never overwrite
                made.append(path)
                out.write(text)
    except OSError as exc:
        _remove(made)  # a half-written project would only be refused as "not empty" next time
        raise ScaffoldError(f"cannot write the plugin into {target}: {exc.strerror or exc}; nothing was kept") from None
    return target, sorted(files)


def _remove(made: list[Path]) -> None:
    """Remove what :func:`create` made, newest first (files, then the folders it created)."""
    for path in reversed(made):
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()  # only if empty: a folder we made holds only what we made
            else:
                path.unlink()
        except OSError:
            pass
