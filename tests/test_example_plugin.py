"""The example third-party plugin, built into a wheel and installed like any package, is
discovered through its entry point, its panel docks and its job runs in a worker."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "studio-hello-plugin"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    out = tmp_path_factory.mktemp("hello")
    wheels, target = out / "wheels", out / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(EXAMPLE)], capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("studio_hello_plugin-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=180)
    assert install.returncode == 0, install.stderr
    return target


@pytest.fixture
def on_path(installed_example, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(installed_example))
    importlib.invalidate_caches()
    yield installed_example
    for name in [m for m in sys.modules if m.startswith("studio_hello")]:
        del sys.modules[name]


def test_discovered_like_any_package(on_path, make_studio):
    studio = make_studio(discover=True)
    record = studio.host.records["hello"]
    assert record.status == "loaded" and record.source == "package studio-hello-plugin"
    assert "hello.greet" in studio.host.job_kinds()


def test_its_job_runs_in_a_worker(on_path, make_studio, run_job):
    studio = make_studio(discover=True)
    job = run_job(studio, "hello.greet", {"name": "Ada", "times": 4})
    assert job.status == "succeeded", job.error
    assert job.result == {"greeted": "Ada", "times": 4}
    assert job.run.last_logs()[-1] == "hello, Ada! (4/4)"


def test_its_panel_docks_and_receives_events(on_path, make_studio, qtbot, qasync_loop):
    from studio.qt.main_window import MainWindow

    studio = make_studio(discover=True)
    window = MainWindow(studio, quit_on_close=False, confirm_close=False)
    qtbot.addWidget(window)
    window.show()
    assert window.docks["hello:greetings"].isVisible()

    async def go():
        job = window.submit_job("hello.greet", {"name": "Grace", "times": 2})
        await studio.jobs.wait(job)

    qasync_loop.run_until_complete(go())
    panel = window.panels["hello:greetings"]
    qtbot.waitUntil(lambda: panel.count() == 2, timeout=5000)
    assert panel.item(1).text() == "hello, Grace! (2/2)"
