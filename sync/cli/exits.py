"""The exit codes of every `crmsync` command, defined once, and the one place a failure becomes a message.

The same problem exits with the same code whatever the command: a settings file that does not validate is
3 from `config check`, `status`, `resync`, `run` and `demo` alike. README's Commands section lists them.

`guarded` wraps each command: an exception the user can act on (a bad file, a state store that cannot be
opened, a folder that does not exist, a package that is not installed) becomes one message on stderr
saying what, where and what to do, and its exit code; never a traceback. Which exception means what is
decided in `sync.cli.failures`, imported only when something failed, so that `crmsync --help` loads
nothing but the CLI library. Anything unforeseen is a bug: one line naming it, exit 70, and the traceback
only when `CRMSYNC_TRACEBACK=1` asks for it.
"""

from __future__ import annotations

import enum
import functools
import os
from collections.abc import Callable, Iterable
from typing import NoReturn, ParamSpec, TypeVar

import typer

P = ParamSpec("P")
R = TypeVar("R")

TRACEBACK_ENV = "CRMSYNC_TRACEBACK"


class ExitCode(enum.IntEnum):
    """What a non-zero exit means, by what the user has to do about it."""

    OK = 0
    FAILED = 1  # the command ran and what it checked or synced failed: an account's run, a rules case
    USAGE = 2  # the command line is wrong: an unknown option, a bad value, an unknown account or contact
    CONFIG = 3  # the settings, rules or another input file does not validate: every problem at PATH:LINE:COL
    STATE_STORE = 4  # the state store cannot be used: unreachable, read-only, missing folder, disk full
    FILE = 5  # a file or folder named on the command line cannot be read or written
    NOT_INSTALLED = 6  # a dependency, connector or the rules engine is not installed
    INTERNAL = 70  # a bug in crmsync (EX_SOFTWARE): please report it


#: the table README's Commands section shows (a test keeps the two equal)
MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "the command ran and something it checked or synced failed (an account's run, a rules "
                     "test case, an out-of-date schema file, a shutdown that outlived its bound)",
    ExitCode.USAGE: "usage error: an unknown option or a bad value, an account or contact that does not exist",
    ExitCode.CONFIG: "the settings file, the rules file it names or another input file (a contact, cases, "
                     "teams) does not validate (each problem printed as PATH:LINE:COL: message)",
    ExitCode.STATE_STORE: "the state store cannot be used: unreachable, read-only, a missing folder, disk full, "
                          "or a schema this crmsync does not know",
    ExitCode.FILE: "a file or folder named on the command line cannot be read or written",
    ExitCode.NOT_INSTALLED: "a Python package crmsync needs (a connector, the rules engine, a library) is not "
                            "installed",
    ExitCode.INTERNAL: "a bug in crmsync: the message names the exception; set CRMSYNC_TRACEBACK=1 to see it",
}


class Failure(Exception):
    """Raised by a command's implementation: print `lines` on stderr, exit with `code`."""

    def __init__(self, code: ExitCode, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.code = code
        self.lines = lines


def echo_lines(lines: Iterable[str]) -> None:
    for line in lines:
        typer.echo(line, err=True)


def fail(code: ExitCode, *lines: str) -> NoReturn:
    """Print `lines` on stderr and end the command with `code`."""
    echo_lines(lines)
    raise typer.Exit(int(code))


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """`command`, with every failure turned into its message and exit code (see the module docstring)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):  # click's own usage errors keep code 2
            raise
        except Failure as failure:
            fail(failure.code, *failure.lines)
        except Exception as exc:  # noqa: BLE001 - the whole point: no traceback reaches the user
            if os.environ.get(TRACEBACK_ENV) == "1":
                raise
            from sync.cli.failures import explain  # only now: the classification imports the engine's errors

            code, lines = explain(exc)
            fail(code, *lines)

    return run
