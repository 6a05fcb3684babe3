"""Shared test helpers: the example stack's config and a fresh synthesis per call."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from redundo.plan import synthesize_stack
from redundo.settings import read_stack_config
from redundo.synthesis import Registered, Synthesis, map_wire

REPO = Path(__file__).resolve().parent.parent
STACKS = REPO / "stacks"
EXAMPLE = "small-shop"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LWZvci1yZWR1bmRvLXRlc3RzLW9ubHk test"
SERVICE = "0123456789abcdef0123456789abcdef"
# A shell that starts the suite in the background (`cmd &`) ignores SIGINT in every process below
# it, and Python then leaves Ctrl-C ignored. A command whose Ctrl-C a test checks runs behind this
# prefix: SIGINT back to its default, as under a terminal, then exec of the command (same pid).
CTRL_C_AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
]


def example_config(**overrides: Any) -> dict[str, Any]:
    """The example stack's `redundo:` keys, with overrides (None removes a key)."""
    raw = read_stack_config(STACKS, EXAMPLE)
    raw.update(overrides)
    return {k: v for k, v in raw.items() if v is not None}


def synth(*, preview: bool = False, **overrides: Any) -> Synthesis:
    """A fresh mock run of the real stack program on the example stack with overrides; with
    `preview`, as the engine previews the stack before it exists."""
    return synthesize_stack(EXAMPLE, example_config(**overrides), preview=preview)


def unwrap(value: Any) -> Any:
    """A registered input with secret wrappers removed."""
    return map_wire(value, secret=unwrap)


def one(syn: Synthesis, type_: str) -> Registered:
    found = syn.by_type(type_)
    assert len(found) == 1, f"expected one {type_}, found {len(found)}"
    return found[0]


@pytest.fixture
def write_stack(tmp_path: Path):
    """Write stacks/Pulumi.NAME.yaml under a temporary project and return the project dir."""
    import yaml

    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: redundo\nruntime: python\n")

    def write(name: str, **keys: Any) -> Path:
        config = {f"redundo:{k}": v for k, v in keys.items()}
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
        return tmp_path

    return write


@pytest.fixture(autouse=True)
def _fresh_consoles():
    """Each test's CLI output gets the width its own COLUMNS asks for: the consoles are made once per
    process, so without this the first test run in a process would decide for every later one."""
    from redundo.cli._app import stderr, stdout

    stdout.cache_clear()
    stderr.cache_clear()
    yield


# The README's test command runs the suite on two workers (pytest-xdist, --dist loadgroup: every
# test its own unit, handed out one at a time in collection order). Tests that boot guests take
# minutes each: they go first, longest first, so that none of them starts last and the short tests
# even out the end.
_LONGEST_FIRST = ("premium", "standard", "basic", "key_policy", "unit_name", "ctrl_c")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> tuple[int, int]:
        if item.get_closest_marker("host") is None:
            return (1, 0)
        name = item.name
        return (0, next((i for i, word in enumerate(_LONGEST_FIRST) if word in name), len(_LONGEST_FIRST)))

    items.sort(key=rank)
