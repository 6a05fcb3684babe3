"""redundo's operations: each multi-step operation is one function here that takes a target and
returns a result. The CLI parses, calls one of them and prints; the rehearsal calls the same ones.
Nothing here prints or exits: progress goes to the callbacks the caller passes in."""

from __future__ import annotations

from redundo.operations.switch import (
    LastBackup,
    Printer,
    Reach,
    SwitchResult,
    failback,
    failover,
    refuse_if_active,
    switch_steps,
)

__all__ = ["LastBackup", "Printer", "Reach", "SwitchResult", "failback", "failover", "refuse_if_active", "switch_steps"]
