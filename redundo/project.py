"""`redundo new`: a folder for a freelancer's client stacks, apart from redundo's own source.

The folder holds only what is the freelancer's: the stack files, the CI workflow and a
Pulumi.yaml whose program is a two-line shim into the installed redundo, so that upgrading
redundo (`pip install -U redundo`) upgrades every client's program and `pulumi up` run by hand in
the folder deploys exactly what `redundo up` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from redundo.errors import OperationError, UsageError

__all__ = ["WORKFLOW_PATH", "Scaffold", "create_project"]

WORKFLOW_PATH = Path(".github") / "workflows" / "redundo.yml"
PROGRAM_DIR = "program"

_PROGRAM = '''\
"""Runs redundo's installed stack program, so that `pulumi up` here deploys what `redundo up` does."""

from redundo.stacks.program import main

main()
'''

_GITIGNORE = """\
# redundo's local state: the file:// Pulumi backend (encrypted secrets, resource ids), the last
# status and drill of each client, generated policy configuration. Keep it out of git; back it up
# or use a team backend (--backend s3://...).
.redundo/
__pycache__/
.venv/
"""

_WORKFLOW_NOTE = """\
# CI for this folder

This redundo installation carries no CI workflow. A minimal GitHub Actions job runs, on every
pull request, `pip install redundo` then `redundo plan --all` and `redundo check --all --format junit`;
both work offline, with no pulumi CLI and no cloud credentials.
"""


@dataclass(frozen=True)
class Scaffold:
    """What `create_project` wrote, relative to the new folder."""

    root: Path
    files: tuple[Path, ...]
    workflow_copied: bool


def _pulumi_yaml() -> str:
    # The project name is fixed: stack settings are namespaced `redundo:` and the state backend
    # keys stacks by project. No virtualenv path: the folder goes into git and CI, where an
    # absolute path from this machine would not exist; the pulumi CLI runs the program with the
    # `python3` on PATH, the one of the virtualenv redundo is installed in once it is activated.
    return "\n".join(
        [
            "name: redundo",
            "description: Client sites made redundant with redundo (off-site backups, standby, failover).",
            "# `pulumi` runs program/ with the python3 on PATH: activate the virtualenv redundo is installed in.",
            "runtime:",
            "  name: python",
            "  options:",
            "    toolchain: pip",
            f"main: {PROGRAM_DIR}/",
            "stackConfigDir: stacks",
            "",
        ]
    )


def _workflow() -> str | None:
    """The CI workflow shipped with redundo (docs/ci/github-actions.yml), if this install carries it."""
    try:
        return resources.files("redundo").joinpath("ci", "github-actions.yml").read_text(encoding="utf-8")
    except OSError:
        return None


def create_project(root: Path) -> Scaffold:
    """Create the folder `root` with Pulumi.yaml, program/, stacks/, .gitignore and the CI workflow.

    Refuses an existing project or a non-empty folder, so that nothing of the user's is overwritten."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a folder; pass a new folder name")
    if (root / "Pulumi.yaml").exists():
        raise UsageError(f"{root} already holds a Pulumi.yaml; add clients there with `redundo init NAME`")
    if root.is_dir() and any(root.iterdir()):
        raise UsageError(f"{root} is not empty; pass a new or empty folder")
    workflow = _workflow()
    contents: dict[Path, str] = {
        Path("Pulumi.yaml"): _pulumi_yaml(),
        Path(PROGRAM_DIR) / "__main__.py": _PROGRAM,
        Path("stacks") / ".gitkeep": "",
        Path(".gitignore"): _GITIGNORE,
    }
    if workflow is not None:
        contents[WORKFLOW_PATH] = workflow
    else:
        contents[Path("CI.md")] = _WORKFLOW_NOTE
    try:
        for relative, text in contents.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OperationError(f"cannot create {root}: {exc.strerror or exc}") from None
    return Scaffold(root, tuple(contents), workflow is not None)
