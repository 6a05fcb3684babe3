"""Progress lines from synthetic engine events, as the Automation API delivers them."""

from __future__ import annotations

import io

from pulumi.automation import EngineEvent
from redundo.cli.progress import EventPrinter
from redundo.cli.render import summary_line
from rich.console import Console

URN = (
    "urn:pulumi:s::redundo::redundo:index:RedundantSite$redundo:index:PrimarySite"
    "$ovh:CloudProject/instance:Instance::s-primary-instance"
)


def _printer() -> tuple[EventPrinter, io.StringIO]:
    buffer = io.StringIO()
    return EventPrinter(Console(file=buffer, width=200, color_system=None)), buffer


def _event(**body) -> EngineEvent:
    return EngineEvent.from_json({"sequence": 1, "timestamp": 0, **body})


def _meta(op: str, urn: str = URN, type_: str = "ovh:CloudProject/instance:Instance") -> dict:
    return {"metadata": {"op": op, "urn": urn, "type": type_, "provider": ""}}


def test_progress_prints_each_step_and_its_completion():
    printer, out = _printer()
    printer(_event(resourcePreEvent=_meta("create")))
    printer(_event(resOutputsEvent=_meta("create")))
    assert out.getvalue().splitlines() == [
        "  +  create   ovh:Instance  s-primary-instance",
        "  ✓  create   s-primary-instance",
    ]
    assert printer.changes == {"create": 1}


def test_progress_skips_unchanged_resources_and_providers():
    printer, out = _printer()
    printer(_event(resourcePreEvent=_meta("same")))
    printer(
        _event(
            resourcePreEvent=_meta("create", "urn:pulumi:s::redundo::pulumi:providers:aws::aws", "pulumi:providers:aws")
        )
    )
    assert out.getvalue() == ""


def test_progress_shows_a_failure_at_once_with_its_first_error_line():
    printer, out = _printer()
    printer(
        _event(
            diagnosticEvent={
                "urn": URN,
                "message": "quota exceeded for d2-2\nmore detail",
                "color": "never",
                "severity": "error",
            }
        )
    )
    printer(_event(resOpFailedEvent={**_meta("create"), "status": 1, "steps": 1}))
    assert out.getvalue().splitlines() == ["  ✗  s-primary-instance: quota exceeded for d2-2"]
    assert printer.failed == [("s-primary-instance", "quota exceeded for d2-2")]


def test_progress_ignores_warnings_and_records_policy_findings_and_summary():
    printer, out = _printer()
    printer(_event(diagnosticEvent={"urn": URN, "message": "deprecated", "color": "never", "severity": "warning"}))
    printer(
        _event(
            policyEvent={
                "resourceUrn": URN,
                "message": "TTL too long\n",
                "color": "never",
                "policyName": "redundo-dns-ttl-fits-rto",
                "policyPackName": "redundo",
                "policyPackVersion": "1",
                "policyPackVersionTag": "1",
                "enforcementLevel": "mandatory",
            }
        )
    )
    printer(
        _event(
            summaryEvent={
                "maybeCorrupt": False,
                "durationSeconds": 3,
                "resourceChanges": {"create": 2, "same": 5},
                "PolicyPacks": {},
            }
        )
    )
    assert out.getvalue().splitlines() == ["  policy redundo-dns-ttl-fits-rto: s-primary-instance: TTL too long"]
    assert printer.summary == {"create": 2, "same": 5}
    assert summary_line("preview", printer.summary, printer) == "preview: 2 create; 1 policy finding(s)"
