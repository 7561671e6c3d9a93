"""NodeGraphQt, imported with its one use of ``distutils`` answered by ``packaging``.

NodeGraphQt 0.6 imports ``distutils.version.LooseVersion``, only to check that Qt is at
least 5.10. distutils left the standard library in Python 3.12. On 3.11, setuptools'
distutils shim takes about 75 ms of the studio's start to import. For the length of the
import only, ``distutils.version`` is a module whose ``LooseVersion`` is ``packaging``'s
``Version``. The entry is removed afterwards, so other code still finds whatever distutils
the environment has.
"""

from __future__ import annotations

import sys
import types


def _import_nodegraphqt() -> None:
    if "NodeGraphQt" in sys.modules or "distutils.version" in sys.modules:
        import NodeGraphQt

        return
    from packaging.version import Version

    shim = types.ModuleType("distutils.version")
    vars(shim)["LooseVersion"] = Version
    sys.modules["distutils.version"] = shim
    try:
        import NodeGraphQt  # noqa: F401
    finally:
        if sys.modules.get("distutils.version") is shim:
            del sys.modules["distutils.version"]


_import_nodegraphqt()

from NodeGraphQt import BaseNode, NodeGraph, NodesPaletteWidget  # noqa: E402

__all__ = ["BaseNode", "NodeGraph", "NodesPaletteWidget"]
