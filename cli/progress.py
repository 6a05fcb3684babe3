"""Live progress of a deploy from the engine's events: one line a step, failures at once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.markup import escape

__all__ = ["EventPrinter"]

_SYMBOL = {
    "create": "+",
    "update": "~",
    "delete": "-",
    "replace": "+-",
    "create-replacement": "+-",
    "delete-replaced": "-",
    "read": ">",
    "same": " ",
}


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else "(stack)"


def _short_type(type_: str) -> str:
    package, _, rest = type_.partition(":")
    return f"{package}:{rest.rsplit(':', 1)[-1]}" if rest else type_


class EventPrinter:
    """Turns `pulumi.automation` engine events into progress lines on a rich console."""

    def __init__(self, console: Console):
        self.console = console
        self.failed: list[tuple[str, str]] = []
        self.policy_violations: list[str] = []
        self.changes: Counter[str] = Counter()
        self.summary: dict[str, int] | None = None

    def __call__(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            op = getattr(meta.op, "value", str(meta.op))
            if op == "same" or meta.type.startswith("pulumi:providers:"):
                return
            self.console.print(f"  {_SYMBOL.get(op, '?'):2} {op:8} {_short_type(meta.type)}  {escape(_name(meta.urn))}")
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            op = getattr(meta.op, "value", str(meta.op))
            if op != "same" and not meta.type.startswith("pulumi:providers:"):
                self.changes[op] += 1
                self.console.print(f"  [green]✓[/green]  {op:8} {escape(_name(meta.urn))}")
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity == "error" and diag.urn:
                message = diag.message.strip().splitlines()[0] if diag.message.strip() else "failed"
                self.failed.append((_name(diag.urn), message))
                self.console.print(f"  [red]✗[/red]  {escape(_name(diag.urn))}: {escape(message)}")
        elif event.res_op_failed_event is not None:
            name = _name(event.res_op_failed_event.metadata.urn)
            if all(n != name for n, _ in self.failed):
                self.failed.append((name, "failed"))
                self.console.print(f"  [red]✗[/red]  {escape(name)}: failed")
        elif event.policy_event is not None:
            policy = event.policy_event
            line = f"{policy.policy_name}: {_name(policy.resource_urn or '')}: {policy.message.strip()}"
            self.policy_violations.append(line)
            self.console.print(f"  [yellow]policy[/yellow] {escape(line)}")
        elif event.summary_event is not None:
            self.summary = {getattr(k, "value", str(k)): v for k, v in event.summary_event.resource_changes.items()}
