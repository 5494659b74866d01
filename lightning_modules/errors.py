"""Errors the Lightning modules raise to stop a training with a message for the user."""

from __future__ import annotations


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message says where and what to try."""
