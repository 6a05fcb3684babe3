"""The `redundo` command line. Commands parse, call the domain, render; nothing else lives here.

Each command family is its own module (checks, deploy, data, fleet); importing them registers
their commands on the one app. The cloud SDKs are imported only inside the commands that
synthesize or deploy, so that `redundo --help` and `redundo tiers` start fast.
"""

from __future__ import annotations

import os

from redundo.cli import checks, data, deploy, dns, fleet, project  # noqa: F401  registers the commands
from redundo.cli._app import app, install_signal_handlers

__all__ = ["app", "run"]


def run() -> None:
    """Console-script entry point."""
    import gc

    # A short-lived process: collecting cycles while the SDKs define thousands of classes costs
    # a fifth of a plan and frees nothing. Long loops over stacks collect as they go (fleet).
    gc.disable()
    os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    install_signal_handlers()
    app()
