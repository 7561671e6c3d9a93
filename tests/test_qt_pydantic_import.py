"""litellm imports in a process that imported pydantic and then Qt (the studio's order)."""

import os
import subprocess
import sys


def test_litellm_imports_after_qt():
    code = "import studio\nfrom pydantic import BaseModel\nimport PySide6.QtWidgets\nimport litellm\nprint('ok')"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
