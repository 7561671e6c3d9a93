"""Public Qt helpers for plugin panels. Import this only from panel factories (it loads Qt).

* ``ParamsForm(model, values, exclude=(), choices={})`` — a form for a pydantic model, the
  same one the "Run job…" dialog uses: ``values()``, ``validate()``, a ``changed`` signal.
* ``JobTracker(ctx, parent, progress=, cancel=, status=)`` — runs a panel's jobs and
  follows them: ``start(kind, params, title=, on_done=, on_event=)`` drives a progress bar,
  a Cancel button and a status label, and hands ``on_done`` the ``JobOutcome`` (status,
  result, run folder).
"""

from studio.qt.job_tracker import JobTracker, TrackedRun
from studio.qt.params_form import ParamsForm

__all__ = ["JobTracker", "ParamsForm", "TrackedRun"]
