"""The parameters of this plugin's job kinds, as pydantic models: the studio builds the
"Run job…" form from them and checks ``--set`` values and params files against them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CountParams(BaseModel):
    """``hello.count``: count from 1 to ``steps``, adding up as it goes."""

    steps: int = Field(10, ge=1, le=1_000_000, description="how far to count")
    delay: float = Field(0.0, ge=0.0, le=10.0, description="seconds to wait at each step (to watch it run)")
    message: str = Field("counted", description="the log line's first word")
