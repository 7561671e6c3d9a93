"""A workflow node type: ``hello.greet`` turns a name into a greeting (no model call).

The workflow engine calls ``runner(params, inputs)``: ``params`` is the node's settings
as the workflow file holds them (a dict, checked against ``GreetParams`` when the workflow
loads), ``inputs`` the values wired to its input ports; it returns its outputs by port
name. A runner may be ``async``, and one taking a third argument gets a ``NodeRuntime``
to make traced model calls (``await runtime.predict("question -> answer", question=…)``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class GreetParams(BaseModel):
    greeting: str = Field("Hello", description="the word before the name")
    punctuation: str = Field("!", max_length=3, description="what ends the greeting")


def greet(params: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    p = GreetParams(**params)
    return {"greeting": f"{p.greeting}, {inputs['name']}{p.punctuation}"}
