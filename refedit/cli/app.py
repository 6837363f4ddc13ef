"""The ``refedit`` group and what every command shares: one-line errors with their documented exit codes
(see :mod:`refedit.errors`), one-line warnings, and Ctrl-C as ``refedit: error: interrupted`` (130)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
import warnings
from typing import Any, Callable, Iterator, TypeVar

import click

from refedit import __version__
from refedit.errors import INTERRUPTED_EXIT_CODE, InternalError, RefEditError, RefEditWarning, StdoutUnwritable

F = TypeVar("F", bound=Callable[..., Any])


def debug_requested(ctx: click.Context | None = None) -> bool:
    from refedit.config import debug_env

    root = ctx.find_root() if ctx else None
    return debug_env() or bool(root and root.params.get("debug"))


def printable(text: str) -> str:
    """``text`` on one line, safe for a terminal: control characters (a newline, an escape sequence in an
    instruction) written as their escapes."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def one_line(message: str, limit: int = 500) -> str:
    """An error's message for its one line: whole (its newlines escaped by :func:`fail`: a file name with a newline
    in it, 'image no\\nsuch.jpg does not exist', was cut to 'image no'), or its first line when it is long (a
    library's message with its own report after the first line)."""
    lines = message.splitlines()
    return message if len(lines) <= 1 or len(message) <= limit else lines[0]


#: a progress line on the terminal that has no end yet (``\r...``): an error or warning starts on a line of its own
OPEN_LINE = {"open": False}


def end_open_line() -> None:
    """End the progress line a message would otherwise be glued to ("invert: 30/150 ...^Crefedit: error: ...")."""
    if OPEN_LINE["open"]:
        OPEN_LINE["open"] = False
        click.echo("", err=True)


def fail(message: str, code: int) -> None:
    end_open_line()
    click.echo(f"refedit: error: {printable(message)}", err=True)
    sys.exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a kill, a closed terminal): stops a command as Ctrl-C does, so that what it was writing
    is removed (a ``.part`` file was left behind), with the exit code 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise :class:`Terminated` (only the main thread can set handlers)."""
    import signal

    def stop(signum: int, _frame: Any) -> None:
        raise Terminated(signum)

    previous = {}
    for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, stop)
            except ValueError:  # not the main thread
                pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def drop_stdout() -> None:
    """Point stdout's descriptor at /dev/null: what it still holds (a failed write, a reader gone) would fail again
    when the interpreter flushes it at exit, as a traceback."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def done_on_signal() -> None:
    """Once a command's work is committed (its files renamed into place, its output flushed), a Ctrl-C or SIGTERM
    during the interpreter's teardown (freeing the models takes a second or more) ends the process with exit 0: it
    reported 'interrupted', exit 130, for an edit that was complete."""
    import signal

    def finished(signum: int, frame: Any) -> None:
        sys.stderr.flush()
        os._exit(0)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if (sig := getattr(signal, name, None)) is not None:
            try:
                signal.signal(sig, finished)
            except ValueError:  # not the main thread (a command run from a thread in tests)
                return


def handle_errors(fn: F) -> F:
    """Turn :class:`RefEditError` into one stderr line + its exit code; anything else is an internal error. With
    ``--debug`` the traceback comes first, and the exit code stays the documented one. SIGTERM and SIGHUP stop the
    command as Ctrl-C does (:class:`Terminated`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context(silent=True)
        try:
            with termination_as_interrupt():
                result = fn(*args, **kwargs)
                if sys.stdout is not None:  # (None: started with stdout closed, `>&-`; the files are written)
                    sys.stdout.flush()  # here, where a failure is one line, not at the interpreter's exit
            done_on_signal()
            return result
        except RefEditError as err:
            if debug_requested(ctx):
                traceback.print_exc()
            if isinstance(err, StdoutUnwritable):
                drop_stdout()
            fail(one_line(str(err)) or type(err).__name__, err.exit_code)
        except Terminated as err:
            import signal

            fail(f"terminated ({signal.Signals(err.signum).name})", 128 + err.signum)
        except KeyboardInterrupt:
            fail("interrupted", INTERRUPTED_EXIT_CODE)
        except BrokenPipeError:  # the reader of our stdout went away: exit quietly, as `head` expects
            drop_stdout()
            sys.exit(141)
        except Exception as err:  # a bug: one line, after the traceback when debugging
            if debug_requested(ctx):
                traceback.print_exc()
                fail(f"internal error: {type(err).__name__}: {err}", InternalError.exit_code)
            fail(f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)",
                 InternalError.exit_code)  # fmt: skip

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Print refedit's own warnings as ``refedit: warning: ...`` (one line, no source line); others as usual."""
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:  # fmt: skip
        if issubclass(category, RefEditWarning):
            end_open_line()
            click.echo(f"refedit: warning: {str(message).splitlines()[0] if str(message) else category.__name__}",
                       err=True)  # fmt: skip
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


#: what click (8.2 on) raises for a group given no command; click 8.1 prints the help and exits 0 itself
_NO_ARGS_IS_HELP: type[Exception] = getattr(click.exceptions, "NoArgsIsHelpError", ())  # type: ignore[assignment]


class RefEditGroup(click.Group):
    """The ``refedit`` group: usage errors and Ctrl-C (while arguments are parsed, too) are one line as well,
    ``refedit: error: ...``, with click's exit code 2 for usage errors and 130 for an interrupt. A group given no
    command shows its help as click does (on stderr, exit 2, from click 8.2 on)."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # fmt: skip
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
            if sys.stdout is not None:
                sys.stdout.flush()  # (`--help > /dev/full`: one line here, not a traceback at the interpreter's exit)
        except StdoutUnwritable as err:  # `--help`, `--version` print outside the commands' error handling
            drop_stdout()
            fail(str(err), err.exit_code)
        except BrokenPipeError:  # `refedit --help | true`: quietly, as every command does
            drop_stdout()
            sys.exit(141)
        except SystemExit as exit_:  # click's own answer to a closed pipe: exit 1 (documented as a bug) -> 141
            if exit_.code == 1 and type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):
                sys.exit(141)
            raise
        except (click.exceptions.Abort, KeyboardInterrupt):
            fail("interrupted", INTERRUPTED_EXIT_CODE)
        except _NO_ARGS_IS_HELP as err:  # bare `refedit` (or `refedit eval`): the help itself, as click shows it
            err.show()
            sys.exit(err.exit_code)
        except click.ClickException as err:
            ctx = getattr(err, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if isinstance(err, click.UsageError) and ctx else ""
            fail(f"{err.format_message()}{hint}", err.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_warnings():
            return super().invoke(ctx)


@click.group(cls=RefEditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="refedit")
@click.option("--debug", is_flag=True, help="Show full tracebacks (also REFEDIT_DEBUG=1).")
def main(debug: bool) -> None:
    """Edit one referred object in a photo from a plain-English instruction.

    \b
    refedit edit cats.jpg "replace the left cat with a tiger" -o out.png

    Exit codes: 0 ok, 1 internal error, 2 bad input, 3 unclear instruction, 4 target not found,
    5 model unavailable, 6 batch had failures, 7 ambiguous, 130 interrupted.
    """
