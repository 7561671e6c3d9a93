"""A panel is any QWidget; ``handle_events`` receives the event kinds the spec consumes."""

from PySide6.QtWidgets import QListWidget


class GreetingsPanel(QListWidget):
    def handle_events(self, run_id, events):
        for event in events:
            if event["text"].startswith("hello"):
                self.addItem(event["text"])


def create(ctx):
    return GreetingsPanel()
