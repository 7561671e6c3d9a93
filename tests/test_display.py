"""Before Qt starts: a machine that cannot open a window is told which system packages to
install, instead of Qt's raw abort ("Could not load the Qt platform plugin xcb")."""

from __future__ import annotations

import studio.core.display as display
from studio.cli import main

LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def test_ldd_output_gives_the_missing_libraries_once_each():
    assert display.parse_ldd(LDD) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxkbcommon-x11.so.0"]


def test_the_install_command_names_the_packages_for_this_system():
    missing = display.parse_ldd(LDD)
    apt = display.install_command(missing, which=lambda tool: tool == "apt-get")
    assert apt.endswith("apt-get install -y libxcb-cursor0 libxcb-icccm4 libxkbcommon-x11-0")
    dnf = display.install_command(missing, which=lambda tool: tool == "dnf")
    assert dnf.endswith("dnf install -y xcb-util-cursor xcb-util-wm libxkbcommon-x11")
    assert display.install_command(missing, which=lambda tool: False) is None


def test_offscreen_and_wayland_need_no_x11_libraries(monkeypatch):
    monkeypatch.setattr(display, "missing_libraries", lambda plugin: ["libxcb-cursor.so.0"])
    assert display.check_display({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert display.check_display({"WAYLAND_DISPLAY": "wayland-0"}) is None
    problem = display.check_display({"DISPLAY": ":0"})
    assert problem is not None and problem.missing == ("libxcb-cursor.so.0",)


def test_a_passed_check_is_remembered_for_this_qt_install(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(display, "missing_libraries", lambda plugin: calls.append(plugin) or [])
    stamp = tmp_path / "ok"
    assert display.check_display({"DISPLAY": ":0"}, ok_stamp=stamp) is None
    assert display.check_display({"DISPLAY": ":0"}, ok_stamp=stamp) is None
    assert len(calls) == 1
    problem = display.check_display({}, ok_stamp=stamp)
    assert problem is not None and "DISPLAY is not set" in str(problem)


def test_the_studio_refuses_to_start_with_the_fix_in_one_line(studio_home, monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(display, "missing_libraries", lambda plugin: ["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    monkeypatch.setattr(display.shutil, "which", lambda tool: "/usr/bin/apt-get" if tool == "apt-get" else None)
    assert main([]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert (
        "missing (libxcb-cursor.so.0, libxcb-icccm.so.4)" in err
        and "apt-get install -y libxcb-cursor0 libxcb-icccm4" in err
    )
