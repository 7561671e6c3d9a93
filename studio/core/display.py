"""Can this machine open a Qt window? Checked before Qt starts, because Qt's own answer on
a minimal Linux system is an abort with "Could not load the Qt platform plugin xcb",
which names no missing library and no fix.

The check runs ``ldd`` on Qt's xcb platform plugin (no Qt import, about 20 ms) and turns
each missing shared library into the package that provides it, for the package manager
this system has. Only Linux with the xcb platform is checked: offscreen, Wayland, macOS
and Windows ship what they need.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# shared library -> (Debian/Ubuntu package, Fedora/RHEL package): what Qt 6's xcb plugin
# and QtGui load on a desktop that has no Qt apps yet
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}


@dataclass(frozen=True)
class DisplayProblem:
    """Why no window can open, in one line, with the command that fixes it (if any)."""

    message: str
    missing: tuple[str, ...] = ()
    install: str | None = None

    def __str__(self) -> str:
        return self.message + (f"; install them with: {self.install}" if self.install else "")


def check_display(env: dict[str, str] | None = None, ok_stamp: Path | None = None) -> DisplayProblem | None:
    """None when Qt should be able to open a window here; else what is wrong.
    ``ok_stamp``: a file that remembers a passed library check for this Qt install, so
    the ~40 ms ``ldd`` runs once, not at every start."""
    env = dict(os.environ if env is None else env)
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    if not sys.platform.startswith("linux") or platform not in ("", "xcb"):
        return None
    if platform == "" and env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"):
        return None  # Qt picks Wayland
    plugin = qt_xcb_plugin()
    fingerprint = f"{plugin}:{plugin.stat().st_mtime_ns}" if plugin is not None else ""
    if not (ok_stamp is not None and _read(ok_stamp) == fingerprint):
        missing = missing_libraries(plugin)
        if missing:
            return DisplayProblem(
                f"the window cannot open: Qt's X11 support needs system libraries that are missing "
                f"({', '.join(missing)})",
                tuple(missing),
                install_command(missing),
            )
        if ok_stamp is not None:
            try:
                ok_stamp.parent.mkdir(parents=True, exist_ok=True)
                ok_stamp.write_text(fingerprint)
            except OSError:
                pass  # checked again next time
    if not env.get("DISPLAY"):
        return DisplayProblem(
            "the window cannot open: no display (DISPLAY is not set). Run it in a desktop "
            "session, or headless with QT_QPA_PLATFORM=offscreen"
        )
    return None


def qt_xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin inside the installed PySide6, found without importing it."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        plugin = Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None


def missing_libraries(library: Path | None) -> list[str]:
    """Shared libraries ``library`` needs that the dynamic loader cannot find."""
    if library is None or shutil.which("ldd") is None:
        return []
    try:
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_ldd(out)


def parse_ldd(output: str) -> list[str]:
    """The ``NAME => not found`` lines of ldd's output, each name once, in order."""
    names: list[str] = []
    for line in output.splitlines():
        name, _, where = line.strip().partition("=>")
        if where.strip() == "not found" and name.strip() not in names:
            names.append(name.strip())
    return names


def install_command(missing: list[str], which=None) -> str | None:
    """The command that installs the packages providing ``missing`` on this system."""
    which = which or shutil.which
    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    if which("apt-get"):
        packages, prefix = [PACKAGES[m][0] for m in missing if m in PACKAGES], f"{sudo}apt-get install -y"
    elif which("dnf"):
        packages, prefix = [PACKAGES[m][1] for m in missing if m in PACKAGES], f"{sudo}dnf install -y"
    else:
        return None
    unique = list(dict.fromkeys(packages))
    return f"{prefix} {' '.join(unique)}" if unique else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
