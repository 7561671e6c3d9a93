"""Public Qt helpers for plugin panels. Import this only from panel factories (it loads Qt).

* ``ParamsForm(model, values, exclude=(), choices={})`` — a form for a pydantic model, the
  same one the "Run job…" dialog uses: ``values()``, ``validate()``, a ``changed`` signal.
* ``JobTracker(ctx, parent, progress=, cancel=, status=)`` — runs a panel's jobs and
  follows them: ``start(kind, params, title=, on_done=, on_event=)`` drives a progress bar,
  a Cancel button and a status label, and hands ``on_done`` the ``JobOutcome`` (status,
  result, run folder).
* ``ModelPicker(ctx, key, prefix="")`` — the field that names a model: type a run id or a
  folder, pick from the workspace's models (``studio.api.list_models``, newest first, with
  name, kind, size and date), or Browse…; ``value()``, ``remember()``, a ``changed`` signal.
* Colours that follow the theme (never hard-code one: white text on a pastel was unreadable
  in the dark theme): ``tone(name)`` a status colour for text (error, warning, success,
  info, muted), ``set_tone(label, name)`` for a label (kept when the theme changes),
  ``tint(name, strength)`` a highlight background under the palette's text (match, shade,
  shade-alt, chosen), ``probability_tint(p)`` a token's background by its probability (one
  scale for every token view), ``text_colour()``; each keeps ``contrast_ratio`` ≥ 4.5 (WCAG AA).
  Tests: ``themed("dark")``, ``coloured_text(widget)`` and ``low_contrast(widget)``.
* ``ElidingProgressBar`` — a progress bar whose text is elided to fit it (full text in
  its tooltip).
"""

from studio.qt.contrast import ColouredText, coloured_text, low_contrast, themed
from studio.qt.eliding import ElidingProgressBar
from studio.qt.job_tracker import JobTracker, TrackedRun
from studio.qt.model_picker import ModelPicker
from studio.qt.params_form import ParamsForm
from studio.qt.theme import contrast_ratio, probability_tint, set_tone, text_colour, tint, tone

__all__ = [
    "ColouredText",
    "ElidingProgressBar",
    "JobTracker",
    "ModelPicker",
    "ParamsForm",
    "TrackedRun",
    "coloured_text",
    "contrast_ratio",
    "low_contrast",
    "probability_tint",
    "set_tone",
    "text_colour",
    "themed",
    "tint",
    "tone",
]
