"""Hook implementations: what this plugin adds to the studio."""

from pydantic import BaseModel, Field

from studio.api import JobKind, Log, PanelSpec, PluginInfo, hookimpl


class GreetParams(BaseModel):
    name: str = Field("world", description="who to greet")
    times: int = Field(3, ge=1, le=1000, description="how many greetings")


@hookimpl
def studio_plugin_info():
    return PluginInfo(name="Hello", version="0.1.0", description="Example third-party plugin.")


@hookimpl
def studio_job_kinds():
    return [JobKind(id="hello.greet", title="Greet", params=GreetParams, runner="studio_hello.jobs:greet")]


@hookimpl
def studio_panels():
    return [PanelSpec(id="hello:greetings", title="Hello", factory="studio_hello.panel:create",
                      area="left", consumes=(Log,))]
