"""The one error hierarchy of redundo. Only the CLI turns these into messages and exit codes."""

from __future__ import annotations

__all__ = ["RedundoError", "UsageError", "ConfigError", "OperationError"]


class RedundoError(Exception):
    """Base of every error redundo raises on purpose; its text is a one-line message for a user."""

    exit_code = 1


class UsageError(RedundoError):
    """The command was called wrongly (options that exclude each other, a bad value)."""

    exit_code = 2


class ConfigError(UsageError):
    """A stack configuration value is missing or invalid; the message names the key and the fix."""


class OperationError(RedundoError):
    """An operation that was correctly asked for could not be carried out."""
