"""`redundo new` and finding the project: the installed `redundo` run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from redundo.cli.render import minutes

from redundo.tiers import TIERS
from tests.conftest import SERVICE, SSH_KEY

REDUNDO = Path(sys.executable).parent / "redundo"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDUNDO_", "PULUMI_"))}
    env["COLUMNS"] = "80"
    return subprocess.run([str(REDUNDO), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_new_makes_a_project_that_runs_the_installed_program(tmp_path):
    result = run(tmp_path, "new", "clients")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "clients"
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    assert project["name"] == "redundo" and project["stackConfigDir"] == "stacks"
    # `pulumi up` in the folder runs main/: a shim into the installed program, not a copy of it.
    main = root / project["main"] / "__main__.py"
    shim = subprocess.run([sys.executable, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", str(main)])
    assert shim.returncode == 0 and "from redundo.stacks.program import main" in main.read_text()
    # No machine-specific path: the folder goes into git and CI.
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip"}}
    assert (root / "stacks").is_dir()
    assert ".redundo/" in (root / ".gitignore").read_text().splitlines()
    workflow = root / ".github" / "workflows" / "redundo.yml"
    assert workflow.read_text() == (Path(__file__).parents[2] / "docs" / "ci" / "github-actions.yml").read_text()


def test_new_then_init_from_a_subfolder_then_ls_finds_the_project(tmp_path):
    assert run(tmp_path, "new", "clients").returncode == 0
    root = tmp_path / "clients"
    (tmp_path / "key.pub").write_text(SSH_KEY + "\n")
    (root / "stacks" / "notes").mkdir()
    init = run(
        root / "stacks" / "notes",
        "init",
        "bakery",
        "--domain",
        "bakery.co.uk",
        "--tier",
        "basic",
        "--ovh-service-name",
        SERVICE,
        "--ssh-key",
        str(tmp_path / "key.pub"),
    )
    assert init.returncode == 0, init.stderr
    # Durations read as everywhere else: whole hours in h ("28 h", not "1680 min").
    basic = TIERS["basic"]
    said = " ".join(init.stdout.split())
    assert f"RPO {minutes(basic.rpo_minutes)}, RTO {minutes(basic.rto_minutes)}" in said
    assert basic.rpo_minutes % 60 == 0 and f"{basic.rpo_minutes} min" not in said
    assert (root / "stacks" / "Pulumi.bakery.yaml").is_file()
    assert not (root / "stacks" / "notes" / "stacks").exists()
    listed = run(root / ".github", "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["stack"], row["domain"]) == ("bakery", "bakery.co.uk")


def test_ls_shows_long_names_whole_on_a_narrow_output(tmp_path):
    """A 63-character client name and a long domain survive an 80-column pipe uncut."""
    assert run(tmp_path, "new", "clients").returncode == 0
    root = tmp_path / "clients"
    name = "bijouterie-artisanale-de-la-rue-du-gros-horloge-rouen-normandie"[:63]
    domain = f"{name}.example.co.uk"
    (root / "stacks" / f"Pulumi.{name}.yaml").write_text(
        yaml.safe_dump(
            {"config": {"redundo:ovhServiceName": SERVICE, "redundo:sshPublicKey": SSH_KEY, "redundo:domain": domain}}
        )
    )
    result = run(root, "ls")
    assert result.returncode == 0, result.stderr
    assert name in result.stdout and domain in result.stdout
