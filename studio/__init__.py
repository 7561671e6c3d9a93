"""Tensor Studio: a plugin-based desktop studio for building AI from the tensor up."""

__version__ = "0.1.0"
