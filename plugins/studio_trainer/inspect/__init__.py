"""The inspector's engine (Qt-free): one hooked forward pass over a text gives tokens,
probabilities, attention maps (on demand), the logit lens, direct logit attribution and
activation statistics; interventions re-run it with a head or layer ablated or the
residual stream patched."""

from __future__ import annotations

from .engine import MAX_TOP_K, check_top_k, inspect_ids, inspect_record, inspect_text
from .inspection import InspectError, Inspection
from .intervene import (
    Effect,
    HeadAblation,
    LayerAblation,
    ResidualPatch,
    intervene,
    load_interventions,
    save_interventions,
)
from .load import load_model
from .program import InterventionFileError, Program, applied, load_program, save_program
from .steering import Steering, steering_from

__all__ = [
    "MAX_TOP_K",
    "Effect",
    "HeadAblation",
    "InspectError",
    "Inspection",
    "InterventionFileError",
    "Program",
    "Steering",
    "applied",
    "LayerAblation",
    "ResidualPatch",
    "check_top_k",
    "inspect_ids",
    "inspect_record",
    "inspect_text",
    "intervene",
    "load_interventions",
    "load_model",
    "load_program",
    "save_interventions",
    "save_program",
    "steering_from",
]
