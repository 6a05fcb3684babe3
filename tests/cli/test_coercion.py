"""Option values keep typer's coercion where it converts, and pass through where it would not."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import redundo.cli._app  # noqa: F401  installs the coercion shortcut, as the CLI does
import typer
from typer.testing import CliRunner

runner = CliRunner()
app = typer.Typer()
seen: dict[str, object] = {}


@app.command()
def probe(
    name: Annotated[str | None, typer.Option("--name")] = None,
    budget: Annotated[float | None, typer.Option("--budget")] = None,
    where: Annotated[Path | None, typer.Option("--where")] = None,
    count: Annotated[int, typer.Option("--count", min=1)] = 1,
) -> None:
    seen.update(name=name, budget=budget, where=where, count=count)


def run(*args: str):
    seen.clear()
    return runner.invoke(app, list(args))


def test_coercion_keeps_strings_and_defaults_as_given():
    result = run("--name", "ünïcode shop")
    assert result.exit_code == 0, result.output
    assert seen == {"name": "ünïcode shop", "budget": None, "where": None, "count": 1}


def test_coercion_converts_other_types_as_typer_does():
    result = run("--budget", "12.5", "--where", "some/dir", "--count", "3")
    assert result.exit_code == 0, result.output
    assert seen == {"name": None, "budget": 12.5, "where": Path("some/dir"), "count": 3}


def test_coercion_rejects_bad_values_with_typers_message():
    bad_number = run("--budget", "cheap")
    assert bad_number.exit_code == 2 and "--budget" in bad_number.output and seen == {}
    below_minimum = run("--count", "0")
    assert below_minimum.exit_code == 2 and "--count" in below_minimum.output and seen == {}
