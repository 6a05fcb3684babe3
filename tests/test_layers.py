"""The layering rules, read from the source: one path per operation.

- Failover and failback (the last backup, the switch, the serve checks) are reached only through
  `redundo.operations`: the CLI and the rehearsal call the same functions, so the rehearsal proves
  what a user runs.
- The command line (`cli/`) and the rehearsal (`redundo/rehearse/`) sit above the product: nothing
  below imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Each installed package and the folder it comes from (pyproject.toml's package-dir).
FOLDERS = {
    "redundo.components": "components",
    "redundo.cli": "cli",
    "redundo.stacks": "stacks",
    "redundo.policies": "policies",
    "redundo": "redundo",
}
# The switch's pieces: only redundo.operations (and the modules defining them) may use them.
SWITCH_PIECES = {
    "redundo.deploy": {"switch", "forget_lost_primary"},
    "redundo.remote": {"LAST_BACKUP", "serve_check", "wait_until_serving"},
}


def _module_name(path: Path) -> str:
    relative = path.relative_to(REPO)
    for package, folder in FOLDERS.items():
        if relative.parts[0] == folder:
            parts = [*package.split("."), *relative.with_suffix("").parts[1:]]
            return ".".join(p for p in parts if p != "__init__")
    raise AssertionError(path)


def _sources() -> dict[str, ast.Module]:
    found = {}
    for folder in FOLDERS.values():
        for path in (REPO / folder).rglob("*.py"):
            found[_module_name(path)] = ast.parse(path.read_text(), str(path))
    return found


SOURCES = _sources()


def _uses(tree: ast.Module) -> tuple[set[str], set[tuple[str, str]]]:
    """The modules a file imports, and the (module, name) pairs it uses from redundo's modules."""
    imported: set[str] = set()
    used: set[tuple[str, str]] = set()
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported.add(alias.name)
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in SOURCES:  # `from redundo import deploy`: a module
                    imported.add(full)
                    aliases[alias.asname or alias.name] = full
                else:  # `from redundo.remote import ssh_run`: a name
                    used.add((node.module, alias.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.add((aliases[node.value.id], node.attr))
    return imported, used


def test_layers_switch_pieces_are_used_only_by_the_operations():
    """No CLI command, rehearsal step or domain module runs its own failover or failback."""
    offenders = []
    for module, tree in SOURCES.items():
        if module.startswith("redundo.operations") or module in SWITCH_PIECES:
            continue
        _, used = _uses(tree)
        offenders += [f"{module} uses {m}.{n}" for m, n in sorted(used) if n in SWITCH_PIECES.get(m, ())]
    assert offenders == []


@pytest.mark.parametrize("upper", ["redundo.cli", "redundo.rehearse"])
def test_layers_nothing_below_imports_the_layers_above(upper):
    below = {m: t for m, t in SOURCES.items() if not m.startswith((upper, "redundo.cli", "redundo.rehearse"))}
    offenders = [m for m, tree in below.items() if any(i.startswith(upper) for i in _uses(tree)[0])]
    assert offenders == []


def test_layers_the_rules_see_the_calls_they_forbid():
    """The rule reads real uses: the operations module itself is seen using every piece it guards."""
    _, used = _uses(SOURCES["redundo.operations.switch"])
    assert {("redundo.deploy", "switch"), ("redundo.remote", "LAST_BACKUP"), ("redundo.remote", "serve_check")} <= used
    _, cli_used = _uses(SOURCES["redundo.cli.deploy"])
    assert ("redundo.operations", "failback") in cli_used and ("redundo.operations", "failover") in cli_used
    _, rehearsal_used = _uses(SOURCES["redundo.rehearse.scenario"])
    assert {("redundo.operations", "failback"), ("redundo.operations", "failover")} <= rehearsal_used
