"""Hints name only options the command has: every `--option` in an error message is checked against
the parameters of the command that raises it (read from the typer app, not listed by hand)."""

from __future__ import annotations

import ast
import re

import typer.main
from redundo.cli.main import app

from tests.conftest import REPO

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
BACKTICKS = re.compile(r"`[^`]*`")


def commands() -> dict[tuple[str, str], object]:
    """Every leaf command by its Python function's (module, name), with the group's own options."""
    found = {}

    def walk(group):
        for command in group.commands.values():
            if hasattr(command, "commands"):
                walk(command)
            else:
                found[(command.callback.__module__, command.callback.__name__)] = command

    walk(typer.main.get_command(app))
    return found


def command(name: str, module: str | None = None):
    """The one command whose function is called `name` (in `module`, where two share a name)."""
    [found] = [
        c
        for (where, function), c in commands().items()
        if function == name and module in (None, where.rsplit(".", 1)[-1])
    ]
    return found


def options_of(command) -> set[str]:
    group = typer.main.get_command(app)
    return {o for p in [*command.params, *group.params] for o in p.opts if o.startswith("--")} | {"--help"}


def mentioned(text: str) -> set[str]:
    """Options a message tells the user to pass; `quoted commands` are other commands' business."""
    return set(OPTION.findall(BACKTICKS.sub("", text)))


def _strings(node: ast.AST) -> list[str]:
    parts = []
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            parts.append(child.value)
    return parts


def raised_messages(function: ast.FunctionDef) -> list[str]:
    """The text of every error a command function raises itself (f-strings joined, values elided)."""
    messages = []
    for node in ast.walk(function):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            messages.append("".join(_strings(node.exc)))
    return messages


def test_hints_every_option_in_a_commands_own_errors_is_one_it_takes():
    by_name = commands()
    checked = 0
    for path in sorted((REPO / "cli").glob("*.py")):
        module = f"redundo.cli.{path.stem}"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in [n for n in tree.body if isinstance(n, ast.FunctionDef) and (module, n.name) in by_name]:
            allowed = options_of(by_name[(module, function.name)])
            for message in raised_messages(function):
                for option in mentioned(message):
                    checked += 1
                    assert option in allowed, f"{path.name}:{function.name} says {option!r}: {message!r}"
    assert checked >= 10  # the walk found the hints it is meant to check


def test_hints_walk_catches_an_option_the_command_lacks():
    """The walk itself can fail: a hint naming --install-pulumi in `status` is caught."""
    source = 'def status():\n    raise OperationError("the pulumi CLI is missing; pass --install-pulumi")\n'
    function = ast.parse(source).body[0]
    [message] = raised_messages(function)
    assert mentioned(message) - options_of(command("status")) == {"--install-pulumi"}


def test_hints_shared_helpers_name_options_only_when_told_the_command_has_them():
    """_one_stack and missing_prerequisites are shared: --all and --install-pulumi only on request."""
    from redundo import deploy
    from redundo.settings import parse_settings
    from tests.conftest import SERVICE, SSH_KEY

    settings = parse_settings("x", {"ovhServiceName": SERVICE, "sshPublicKey": SSH_KEY})
    [without] = deploy.missing_prerequisites(settings, {}, credentials_needed=False, which=lambda _: None)
    [with_option] = deploy.missing_prerequisites(
        settings, {}, credentials_needed=False, can_install=True, which=lambda _: None
    )
    assert "--install-pulumi" not in without and "--install-pulumi" in with_option
    for name in ("status", "drill", "vault_undelete"):
        assert "--install-pulumi" not in options_of(command(name))


def test_hints_commands_with_a_stack_but_no_all_are_told_so():
    for name in ("report", "up", "failover", "outputs", "destroy"):
        assert "--all" not in options_of(command(name))
    for name, module in (("plan", "checks"), ("check", "checks"), ("status", "fleet")):
        assert "--all" in options_of(command(name, module))
