"""Pure-Python core of the studio: plugin host, settings, workspace, runs, events.

Nothing in this package imports Qt (a test enforces it), so everything here runs headless.
"""
