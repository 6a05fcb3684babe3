"""The typer application object and the one place where errors become messages and exit codes."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import typer
from redundo.cli import _coercion
from typer.core import TyperGroup

from redundo.errors import CtrlC, RedundoError, SigTerm

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["app", "fail", "install_signal_handlers", "stderr", "stdout"]

DEBUG_VAR = "REDUNDO_DEBUG"


# rich is imported on first use, not at start-up: `redundo --help` stays fast.
@lru_cache(maxsize=1)
def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False)


@lru_cache(maxsize=1)
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


# Options need pydantic only for values typer must convert (see _coercion).
_coercion.install()


def fail(message: str, code: int) -> None:
    """Print `message` as the one line a user sees on stderr, then exit with `code`."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


Interrupted, Terminated = CtrlC, SigTerm


def _on_sigint(signum: int, frame: Any) -> None:
    raise Interrupted()


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM unwind the command (finally blocks run), then end as one line."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # nohup and `cmd &` ignore it on purpose
        signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)


def _debug() -> bool:
    return os.environ.get(DEBUG_VAR, "") not in ("", "0")


def _show_traceback() -> None:
    if _debug():
        import traceback

        traceback.print_exc()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quiet_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _UsageError(Protocol):
    """A typer usage error, as far as this module uses one (see _is_typer_usage_error)."""

    exit_code: int

    def format_message(self) -> str: ...


def _is_typer_usage_error(exc: BaseException) -> TypeGuard[_UsageError]:
    # typer vendors click and does not re-export its exception base; its errors carry these two.
    return type(exc).__module__.startswith("typer.") and hasattr(exc, "format_message") and hasattr(exc, "exit_code")


class _Group(TyperGroup):
    """Runs every command without click's standalone handling, so that each failure is one line."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except RedundoError as exc:
            _show_traceback()
            fail(_one_line(str(exc)), exc.exit_code)
        except typer.Abort:
            fail("aborted; nothing was changed", 1)
        except (Interrupted, KeyboardInterrupt):
            _show_traceback()
            fail("interrupted (Ctrl-C); what finished before stays done", 130)
        except Terminated:
            _show_traceback()
            fail("terminated (SIGTERM); what finished before stays done", 143)
        except UnicodeEncodeError as exc:
            encoding = getattr(sys.stdout, "encoding", None) or exc.encoding
            _show_traceback()
            fail(
                f"the output's encoding ({encoding}) cannot show {exc.object[exc.start : exc.end]!r}; "
                "set LANG=C.UTF-8 or PYTHONIOENCODING=utf-8",
                1,
            )
        except BrokenPipeError:
            # `redundo ls | head`: the reader left. Nothing more can be said on stdout; say nothing.
            _quiet_stdout()
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - the top level: any error becomes one line, never a traceback
            if _is_typer_usage_error(exc):
                if type(exc).__name__ == "NoArgsIsHelpError":
                    sys.stdout.write(exc.format_message() + "\n")
                    sys.exit(0)
                ctx = getattr(exc, "ctx", None)
                where = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
                fail(_one_line(exc.format_message().rstrip(".")) + where, exc.exit_code)
            _show_traceback()
            detail = _one_line(str(exc)) or "no message"
            fail(f"internal error: {type(exc).__name__}: {detail}; rerun with {DEBUG_VAR}=1 and report it", 1)
        if result == 130:  # typer's answer to a KeyboardInterrupt raised before our handler was in place
            fail("interrupted (Ctrl-C); what finished before stays done", 130)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=_Group,
    name="redundo",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    # Plain help: typer's rich help pulls in rich, markdown-it and rich.traceback at every start.
    rich_markup_mode=None,
    help="Off-site backups, a standby and failover for small sites, at a tier that fits the budget.",
)
