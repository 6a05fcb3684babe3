"""The documentation names only what exists: repository paths, modules and links in README, CHANGELOG and docs/."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCUMENTS = sorted([README, REPO / "CHANGELOG.md", *(REPO / "docs").rglob("*.md")])
README_MAX_LINES = 200

# Inline code spans (`...`) and the targets of Markdown links [text](target).
CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# A dotted name inside the project's import package, such as redundo.stacks.program.
MODULE = re.compile(r"^redundo(\.[A-Za-z_][A-Za-z0-9_]*)+$")
# Interpreters whose first argument is a file: in `bash .ci/run` or `python benchmarks/x.py --write`
# the second word is the path to check.
RUNNERS = {"bash", "sh", "python", "python3"}
# File name endings that make `redundo.yml` or `redundo.conf` a file name, not a module.
FILE_SUFFIXES = {"conf", "env", "json", "md", "py", "service", "timer", "toml", "txt", "yaml", "yml"}


def _top_level() -> set[str]:
    """The names at the repository's top (components, stacks, .ci, Pulumi.yaml, ...), minus local clutter."""
    skip = {".git", ".venv", ".redundo", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__"}
    names = {p.name for p in REPO.iterdir() if p.name not in skip and not p.name.endswith(".egg-info")}
    return names | {"CHANGELOG.md"}


TOP_LEVEL = _top_level()


def _prose(text: str) -> str:
    """The text without fenced code blocks: commands and sample output name host paths, not repo paths."""
    return FENCE.sub("", text)


def repo_paths(text: str) -> list[str]:
    """Inline-code spans that name a file or folder of this repository, relative to its root.

    A span counts when it is one token (no spaces), relative (absolute and home paths are the
    deployed hosts' or the user's), free of placeholders, and starts with a top-level name of the
    repository (components/, redundo/, .ci/, Pulumi.yaml, ...), or is a .py file under a folder.
    A command that runs a file (`bash .ci/run`, `python benchmarks/x.py --write`) counts by that
    file, its second word; its other words are left alone. Paths of other projects (a provider's
    ovh/resource_*.go) and of a client folder (.github/workflows/, program/) start elsewhere and
    are left alone."""
    found = []
    for span in CODE_SPAN.findall(_prose(text)):
        token = span.strip().rstrip(".,;:")
        words = token.split()
        if len(words) >= 2 and words[0] in RUNNERS:
            token = words[1].rstrip(".,;:")
        if not token or any(c in token for c in " <>{}*$~:|=()[]'\"") or token.startswith(("/", "-", "http")):
            continue
        if re.search(r"\b[A-Z]{3,}\b", token.replace("Pulumi", "")) and "/" in token:
            continue  # a placeholder such as stacks/Pulumi.CLIENT.yaml
        first = token.split("/", 1)[0]
        if first in TOP_LEVEL and (token != first or "." in first):
            found.append(token)
        elif "/" in token and token.endswith(".py"):
            found.append(token)
    return found


def module_names(text: str) -> list[str]:
    """Inline-code spans that are dotted names under `redundo`, such as redundo.deploy."""
    names = []
    for span in CODE_SPAN.findall(text):
        token = span.strip()
        if MODULE.match(token) and token.rsplit(".", 1)[1] not in FILE_SUFFIXES:
            names.append(token)
    return names


def relative_links(text: str) -> list[str]:
    """Targets of Markdown links that point inside the repository (no scheme, not an anchor alone)."""
    targets = []
    for target in LINK.findall(_prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def resolves(name: str) -> bool:
    """A module or package found by importlib, or a name defined in one (redundo.policies.rules.tier_config)."""
    try:
        if importlib.util.find_spec(name) is not None:
            return True
    except ModuleNotFoundError:
        pass
    parent, _, attribute = name.rpartition(".")
    try:
        return importlib.util.find_spec(parent) is not None and hasattr(importlib.import_module(parent), attribute)
    except ModuleNotFoundError:
        return False


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def test_docs_readme_is_an_index_of_at_most_200_lines():
    """The README stays short: what redundo is, two commands, the tiers and links into docs/."""
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_ids(DOCUMENTS))
def test_docs_repository_paths_exist(document):
    """Every repository path a document names in inline code exists."""
    missing = [p for p in repo_paths(document.read_text(encoding="utf-8")) if not (REPO / p).exists()]
    assert not missing, f"{document.relative_to(REPO)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_ids(DOCUMENTS))
def test_docs_module_names_resolve(document):
    """Every dotted redundo.x.y name a document gives is an importable module (or a name in one)."""
    missing = [m for m in module_names(document.read_text(encoding="utf-8")) if not resolves(m)]
    assert not missing, f"{document.relative_to(REPO)} names modules that do not exist: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_ids(DOCUMENTS))
def test_docs_relative_links_resolve(document):
    """Every relative Markdown link resolves from the document's own folder."""
    broken = [t for t in relative_links(document.read_text(encoding="utf-8")) if not (document.parent / t).exists()]
    assert not broken, f"{document.relative_to(REPO)} links to what does not exist: {broken}"


def test_docs_recognizers_catch_a_wrong_path_and_leave_host_paths_alone():
    """The recognizers find repository paths, modules and links, and skip host paths and placeholders."""
    text = (
        "See `components/standbi.py`, `redundo/agent/redundo-backup`, `.ci/apt.d/`,\n"
        "`stacks/Pulumi.small-shop.yaml`, `/etc/redundo/restic.env`, `~/.cache/redundo`,\n"
        "`stacks/Pulumi.<client>.yaml`, `.github/workflows/redundo.yml`,\n"
        "`redundo plan --tier basic`, `redundo.deploy`, `redundo.nothing_here`, `redundo.yml`, [a](docs/nowhere.md).\n"
        "`bash .ci/run`, `bash .ci/nothing-here`, `python benchmarks/nowhere.py --write`,\n"
        "`sh redundo/agent/redundo-backup`,\n"
        "`python -m pytest -q`, `bash -c 'ls components'`, `python3 /usr/bin/x.py`, `python3 stacks/<client>.py`,\n"
        "```sh\nls components/not-a-claim.py\n```\n"
    )
    assert repo_paths(text) == [
        "components/standbi.py",
        "redundo/agent/redundo-backup",
        ".ci/apt.d/",
        "stacks/Pulumi.small-shop.yaml",
        ".ci/run",
        ".ci/nothing-here",
        "benchmarks/nowhere.py",
        "redundo/agent/redundo-backup",
    ]
    assert [p for p in repo_paths(text) if not (REPO / p).exists()] == [
        "components/standbi.py",
        ".ci/nothing-here",
        "benchmarks/nowhere.py",
    ]
    assert module_names(text) == ["redundo.deploy", "redundo.nothing_here"]
    assert [m for m in module_names(text) if not resolves(m)] == ["redundo.nothing_here"]
    assert relative_links(text) == ["docs/nowhere.md"]
