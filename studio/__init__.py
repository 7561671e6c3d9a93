"""Tensor Studio: a plugin-based desktop studio for building AI from the tensor up."""

# PySide6 installs an import hook that reads the source of every module imported after it
# (``inspect.getsource``); on pydantic's lazily-loaded ``_validators`` that starts a
# circular import, so litellm (and any pydantic user) fails to import in a process that
# imported Qt first. Loading that module before Qt avoids it; the regression test is
# tests/test_qt_pydantic_import.py.
import pydantic._internal._validators  # noqa: F401

__version__ = "0.1.0"
