"""The only package that imports Qt (PySide6): main window, dock host, panels, dialogs."""
