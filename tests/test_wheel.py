"""The built wheel, installed alone in a new virtualenv, runs every command: no checkout on the path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# One worker builds and installs the wheel (about 700 MB with [local]), and runs every test of it.
pytestmark = pytest.mark.xdist_group("wheel")


def _package_dirs() -> set[str]:
    """Every Python package in the source tree, under the name pyproject.toml installs it as."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    names = set()
    for name, folder in {"redundo": "redundo", **config["package-dir"]}.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            names.add(".".join([name, *relative.parts]))
    return names


def test_wheel_lists_every_package_of_the_source_tree():
    """A package missing from [tool.setuptools] packages installs from a checkout but not from the wheel."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == _package_dirs()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A wheel built from the tracked files alone, installed with its [local] extra into a new venv."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    pins = str(REPO / "constraints.txt")
    # PIP_CONSTRAINT pins what is installed; PIP_BUILD_CONSTRAINT the isolated build (setuptools).
    env = {**os.environ, "PIP_CONSTRAINT": pins, "PIP_BUILD_CONSTRAINT": pins, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(base / "dist"), str(source)],
        check=True,
        env=env,
    )
    [wheel] = (base / "dist").glob("redundo-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin/pip", "install", "-q", f"{wheel}[local]"], check=True, env=env)
    return venv


def _run(venv: Path, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "REDUNDO_PROJECT")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_wheel_imports_from_its_own_site_packages(installed, tmp_path):
    done = _run(
        installed,
        "python",
        "-c",
        "import redundo.cli.main, redundo.rehearse.scenario as s; print(s.__file__)",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(installed)) and str(REPO) not in done.stdout


def test_wheel_runs_every_commands_help(installed, tmp_path):
    """Every command and sub-command answers --help with exit 0 (an import missing from the wheel would not)."""
    listing = (
        "import json, typer.main\n"
        "from redundo.cli.main import app\n"
        "def walk(command, path):\n"
        "    yield path\n"
        "    for name, sub in getattr(command, 'commands', {}).items():\n"
        "        yield from walk(sub, [*path, name])\n"
        "print(json.dumps(list(walk(typer.main.get_command(app), []))))\n"
    )
    done = _run(installed, "python", "-c", listing, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    commands = json.loads(done.stdout)
    assert ["rehearse"] in commands and ["vault"] in commands and len(commands) > 20
    for path in commands:
        helped = _run(installed, "redundo", *path, "--help", cwd=tmp_path, timeout=120)
        assert helped.returncode == 0 and "Usage: redundo" in helped.stdout, (path, helped.stderr[-1000:])


def test_wheel_plans_a_new_project(installed, tmp_path):
    """`redundo new`, `init` a client, `plan --tier basic`: the program and prices ship in the wheel."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    assert _run(installed, "redundo", "new", "clients", cwd=tmp_path).returncode == 0
    project = tmp_path / "clients"
    made = _run(
        installed,
        "redundo",
        "init",
        "shop",
        "--domain",
        "shop.example.fr",
        "--ovh-service-name",
        "0123456789abcdef0123456789abcdef",
        "--ssh-key",
        f"{key}.pub",
        "--tier",
        "basic",
        cwd=project,
    )
    assert made.returncode == 0, made.stderr
    planned = _run(installed, "redundo", "plan", "--tier", "basic", "--json", cwd=project)
    assert planned.returncode == 0, planned.stderr[-2000:]
    plan = json.loads(planned.stdout)
    assert plan["tier"] == "basic" and plan["resources"], sorted(plan)


def test_wheel_runs_a_local_drill(installed, tmp_path):
    """`redundo drill --local` from the wheel: backs up, burns, restores and checks every byte."""
    if shutil.which("restic") is None and not os.environ.get("CI"):
        pytest.skip("restic is not installed (.ci/apt.d/base.txt)")
    done = _run(
        installed, "redundo", "drill", "--local", "--size", "2", "--files", "20", "--json", cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["passed"] is True and report["exact"] is True, report["problems"]
    assert report["files_checked"] == 20 and report["files_mismatched"] == []
