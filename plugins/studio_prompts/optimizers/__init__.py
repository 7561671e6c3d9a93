"""Optimizers: change a program's demos and instructions to raise its metric.

Each ``compile(program, trainset)`` is async, returns an optimized *copy* (the original is
untouched) and an :class:`OptimizeReport` saying what changed, predictor by predictor.
A budget (max model calls / cost, ``Budget``) stops a search early with the best found so
far; progress goes to the ``progress(done, total, message)`` callback.
"""

from .base import OptimizeReport, describe_changes
from .copro import COPRO
from .fewshot import BootstrapFewShot, LabeledFewShot

OPTIMIZERS = {"labeled": LabeledFewShot, "bootstrap": BootstrapFewShot, "copro": COPRO}

__all__ = ["OPTIMIZERS", "OptimizeReport", "describe_changes", "LabeledFewShot", "BootstrapFewShot", "COPRO"]
