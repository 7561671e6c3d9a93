"""Executors that run jobs: asyncio tasks in the studio's loop, or spawned worker processes.

No Qt here: the same code serves the GUI (under qasync) and the headless CLI (plain asyncio).
"""
