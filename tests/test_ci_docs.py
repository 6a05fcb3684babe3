"""The CI examples in docs/ci: valid for their CI's schema, and the preview step's script does what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

CI_DOCS = REPO / "docs" / "ci"
SCHEMAS = {"github-actions": "vendor.github-workflows", "gitlab-ci": "vendor.gitlab-ci"}
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def schema_of(path: Path) -> str:
    return next(schema for prefix, schema in SCHEMAS.items() if path.name.startswith(prefix))


def validate(path: Path, schema: str) -> subprocess.CompletedProcess:
    assert CHECK_JSONSCHEMA.exists(), "check-jsonschema is missing: pip install -e '.[test]'"
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(path)], capture_output=True, text=True, timeout=120
    )


def test_ci_docs_every_file_is_a_known_ci():
    files = sorted(CI_DOCS.glob("*.yml"))
    assert [f.name for f in files] == ["github-actions.yml", "gitlab-ci.yml"]
    for f in files:
        schema_of(f)


@pytest.mark.parametrize("path", sorted(CI_DOCS.glob("*.yml")), ids=lambda p: p.name)
def test_ci_docs_validate_against_their_ci_schema(path):
    result = validate(path, schema_of(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_docs_the_schema_check_refuses_a_broken_workflow(tmp_path):
    """The validation can fail: a job without runs-on, and a step that is neither run nor uses."""
    workflow = yaml.safe_load((CI_DOCS / "github-actions.yml").read_text())
    del workflow["jobs"]["check"]["runs-on"]
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(workflow))
    result = validate(broken, "vendor.github-workflows")
    assert result.returncode == 1 and "runs-on" in result.stdout


def _github() -> dict:
    return yaml.safe_load((CI_DOCS / "github-actions.yml").read_text())


def _step(job: dict, name: str) -> dict:
    return next(s for s in job["steps"] if s.get("name") == name)


def test_ci_docs_github_check_uploads_sarif_to_code_scanning_and_keeps_junit():
    check = _github()["jobs"]["check"]
    assert check["permissions"]["security-events"] == "write"
    run = _step(check, "Check every client (policy pack, preview and deployed)")["run"]
    assert "redundo check --all --format sarif > redundo-check.sarif" in run
    assert "redundo check --all --format junit > redundo-check.xml" in run
    upload = _step(check, "Findings to code scanning")
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"]["sarif_file"] == "redundo-check.sarif" and "always()" in upload["if"]
    assert _step(check, "Keep the JUnit report")["with"]["path"] == "redundo-check.xml"


def test_ci_docs_github_preview_runs_on_the_default_branch_only():
    workflow = _github()
    preview = workflow["jobs"]["preview"]
    assert "github.event_name == 'push'" in preview["if"]
    assert "github.ref_name == github.event.repository.default_branch" in preview["if"]
    assert preview["needs"] == "check"
    assert "redundo preview --stack" in _step(preview, "Preview each changed stack under the policy pack")["run"]


@pytest.fixture
def client_repo(tmp_path):
    """A client-stacks repository with two commits, and a fake `redundo` that records its calls."""
    repo = tmp_path / "clients"
    (repo / "stacks").mkdir(parents=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    for name in ("alpha", "bravo", "gone"):
        (repo / "stacks" / f"Pulumi.{name}.yaml").write_text(f"config:\n  redundo:tier: basic  # {name}\n")
    git("add", "-A")
    git("commit", "-qm", "first")
    before = git("rev-parse", "HEAD")
    (repo / "stacks" / "Pulumi.bravo.yaml").write_text("config:\n  redundo:tier: premium\n")
    (repo / "stacks" / "Pulumi.charlie.yaml").write_text("config:\n  redundo:tier: basic\n")
    (repo / "stacks" / "Pulumi.gone.yaml").unlink()
    (repo / "README.md").write_text("not a stack\n")
    git("add", "-A")
    git("commit", "-qm", "second")
    after = git("rev-parse", "HEAD")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    fake = bin_dir / "redundo"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$3" != "$REDUNDO_FAILS" ]\n')
    fake.chmod(0o755)
    return repo, before, after, bin_dir, log


def _preview(repo: Path, bin_dir: Path, before: str, after: str, fails: str = "") -> subprocess.CompletedProcess:
    script = _step(_github()["jobs"]["preview"], "Preview each changed stack under the policy pack")["run"]
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "BEFORE": before,
        "AFTER": after,
        "REDUNDO_FAILS": fails,
    }
    return subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=60)


def test_ci_docs_github_preview_previews_exactly_the_changed_stacks(client_repo):
    repo, before, after, bin_dir, log = client_repo
    result = _preview(repo, bin_dir, before, after)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["preview --stack bravo", "preview --stack charlie"]


def test_ci_docs_github_preview_of_a_new_branch_covers_every_stack(client_repo):
    repo, _, after, bin_dir, log = client_repo
    result = _preview(repo, bin_dir, "0" * 40, after)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [f"preview --stack {s}" for s in ("alpha", "bravo", "charlie")]


def test_ci_docs_github_preview_fails_when_one_stack_is_refused_but_previews_the_rest(client_repo):
    repo, before, after, bin_dir, log = client_repo
    result = _preview(repo, bin_dir, before, after, fails="bravo")
    assert result.returncode == 1
    assert "preview failed or a policy refused: bravo" in result.stdout
    assert log.read_text().splitlines() == ["preview --stack bravo", "preview --stack charlie"]
