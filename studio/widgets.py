"""Public Qt helpers for plugin panels. Import this only from panel factories (it loads Qt).

* ``ParamsForm(model, values, exclude=(), choices={})`` — a form for a pydantic model, the
  same one the "Run job…" dialog uses: ``values()``, ``validate()``, a ``changed`` signal.
"""

from studio.qt.params_form import ParamsForm

__all__ = ["ParamsForm"]
