"""Starting a project: `redundo new`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from redundo.cli._app import app, stdout


@app.command()
def new(directory: Annotated[Path, typer.Argument(help="The folder to create, such as ~/clients.")]) -> None:
    """Create a folder for your clients' stacks: Pulumi.yaml, stacks/, .gitignore and the CI workflow."""
    from redundo.project import create_project

    made = create_project(directory)
    stdout().print(f"created {directory}: " + ", ".join(str(p) for p in made.files))
    stdout().print(
        f"next: cd {directory} && redundo init CLIENT --domain CLIENT-SITE.fr --ovh-service-name PROJECT_ID "
        "--ssh-key ~/.ssh/id_ed25519.pub"
    )
