"""The one error hierarchy of redundo. Only the CLI turns these into messages and exit codes."""

from __future__ import annotations

__all__ = ["ConfigError", "CtrlC", "OperationError", "RedundoError", "SigTerm", "Stopped", "UsageError"]


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


class Stopped(BaseException):
    """The process was told to stop: raised by the CLI's signal handlers where the process was, so
    that `finally` blocks run. Not KeyboardInterrupt (typer turns that into a silent exit 130), and
    not an Exception, so that no `except Exception` swallows it."""

    exit_code = 130
    how = "interrupted"


class CtrlC(Stopped):
    """SIGINT (Ctrl-C)."""


class SigTerm(Stopped):
    """SIGTERM."""

    exit_code = 143
    how = "terminated (SIGTERM)"
