"""Hooks that read and replace a module's main input and output whatever its calling
convention: the studio's modules take their input as the first positional argument and
return a tensor; transformers' attention modules take ``hidden_states=`` as a keyword and
return ``(out, weights)``, and some versions' decoder layers return a tuple too. Every
inspector hook goes through these two registrations, so each view and intervention works
on both without knowing which it hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

INPUT_KEYWORD = "hidden_states"


def input_of(args: tuple, kwargs: dict[str, Any]) -> torch.Tensor:
    """The module's input: its first positional argument, else its ``hidden_states`` keyword."""
    return args[0] if args else kwargs[INPUT_KEYWORD]


def output_of(output: Any) -> torch.Tensor:
    """The module's output: a tuple's (or list's) first item, else the output itself."""
    return output[0] if isinstance(output, (tuple, list)) else output


def with_output(output: Any, value: torch.Tensor) -> Any:
    """``output`` with its main tensor replaced by ``value``, the structure kept."""
    if isinstance(output, (tuple, list)):
        return type(output)((value, *output[1:]))
    return value


def _mark(hook: Any, position_wise: bool | None) -> Any:
    if position_wise is not None:  # read by ``kv_cache.supports_cache``
        hook.position_wise = position_wise
    return hook


def on_output(
    module: nn.Module,
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor | None],
    position_wise: bool | None = None,
):
    """A forward hook calling ``fn(input, output)`` with the main tensors; a tensor it returns
    replaces the output's main tensor. Returns the handle."""

    def hook(_module, args, kwargs, output):
        new = fn(input_of(args, kwargs), output_of(output))
        return None if new is None else with_output(output, new)

    return module.register_forward_hook(_mark(hook, position_wise), with_kwargs=True)


def on_input(module: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor | None], position_wise: bool | None = None):
    """A forward pre-hook calling ``fn(input)``; a tensor it returns replaces the input
    (where it was passed: positionally or as ``hidden_states=``). Returns the handle."""

    def hook(_module, args, kwargs):
        new = fn(input_of(args, kwargs))
        if new is None:
            return None
        if args:
            return (new, *args[1:]), kwargs
        return args, {**kwargs, INPUT_KEYWORD: new}

    return module.register_forward_pre_hook(_mark(hook, position_wise), with_kwargs=True)
