"""A panel is a QWidget; mixing in ``Panel`` gets it the shell's calls, here the events of
the kinds its PanelSpec consumes (``Log``), typed."""

from PySide6.QtWidgets import QListWidget

from studio.api import Event, Log, Panel


class GreetingsPanel(QListWidget, Panel):
    def handle_events(self, run_id: str, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Log) and event.text.startswith("hello"):
                self.addItem(event.text)


def create(ctx):
    return GreetingsPanel()
