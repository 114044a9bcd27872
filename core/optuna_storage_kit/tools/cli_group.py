"""The ``osk`` group's manners: one ``Error:`` line per failure, ``--debug`` for tracebacks,
and an install hint for a command whose plugin is missing.

Click already prints ``Error: ...`` for its own exceptions (exit code 2 for usage errors, 1
for :class:`click.ClickException`). :class:`OskGroup` turns every other exception a command
raises into a :class:`click.ClickException` of one line, so no user error ends in a
traceback; ``osk --debug COMMAND`` (or ``OSK_DEBUG=1``) lets the exception through, traceback
and all. A password in any URL argument is masked in that line.

Imports nothing heavy (no Optuna, no rich): ``osk --help`` stays fast.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from typing import Any

import click

from optuna_storage_kit.runtime.extras import PLUGIN_COMMANDS

__all__ = ["PLUGIN_COMMANDS", "OskGroup", "debug_option", "describe_error"]

DEBUG_KEY = "osk.debug"
_ARGS_KEY = "osk.args"

_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionError, "check that the server is running and that host and port are right"),
    (TimeoutError, "check that the server is running and reachable from here"),
    (ModuleNotFoundError, "check the module name, and that it is installed in this environment"),
    (ImportError, "check that the module imports cleanly (python -c 'import MODULE')"),
    (PermissionError, "check the permissions of the file or directory"),
)


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[DEBUG_KEY] = True


def debug_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The group's ``--debug`` flag (also ``OSK_DEBUG=1``): show tracebacks."""
    return click.option(
        "--debug",
        is_flag=True,
        envvar="OSK_DEBUG",
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="Show the full traceback when a command fails.",
    )(f)


class OskGroup(click.Group):
    """A :class:`click.Group` whose commands fail with one ``Error:`` line (see the module)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGS_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:
            if ctx.meta.get(DEBUG_KEY):
                raise
            message = describe_error(err, ctx.meta.get(_ARGS_KEY, ()))
            raise click.ClickException(message) from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in PLUGIN_COMMANDS:
            return _missing_plugin_command(cmd_name)
        return command


def describe_error(err: BaseException, args: Sequence[str] = ()) -> str:
    """One line for ``err``: its message (the type too, unless it is one of ours) and a fix.

    Passwords of URLs in ``args`` are masked. Our own errors (``StorageKitError``) carry their
    fix; for others a hint by type is added when one applies, then how to see the traceback.
    """
    from optuna_storage_kit.errors import StorageKitError

    text = " ".join(str(err).split())
    for password in _passwords(args):
        text = text.replace(password, "***")
    if isinstance(err, StorageKitError):
        return text or type(err).__name__
    line = f"{type(err).__name__}: {text}" if text else type(err).__name__
    hint = next((h for kind, h in _HINTS if isinstance(err, kind)), None)
    if hint:
        line += f"; {hint}"
    return f"{line} (osk --debug ... shows the traceback)"


def _passwords(args: Sequence[str]) -> list[str]:
    """Passwords in URL-like arguments (``scheme://user:password@host``)."""
    found = []
    for arg in args:
        _, sep, rest = arg.partition("://")
        if not sep:
            continue
        userinfo, at, _ = rest.partition("/")[0].rpartition("@")
        if at and ":" in userinfo:
            password = userinfo.split(":", 1)[1]
            if password:
                found.append(password)
    return found


def _missing_plugin_command(name: str) -> click.Command:
    """A stand-in for a plugin command that is not there: it says what to install."""
    distribution, extra = PLUGIN_COMMANDS[name]

    def explain() -> None:
        raise click.ClickException(_why_missing(name, distribution, extra))

    return click.Command(
        name,
        callback=explain,
        help=f"(not installed: comes from {distribution}, extra [{extra}])",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def _why_missing(name: str, distribution: str, extra: str) -> str:
    install = f'pip install "optuna-storage-kit[{extra}]"'
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return (
            f"osk {name} comes from {distribution}, which is not installed. Install it with: "
            f"{install}"
        )
    from optuna_storage_kit.runtime.registry import get_registry

    errors = [b.error for b in get_registry().broken() if b.distribution == distribution]
    why = f": {errors[0]}" if errors else ""
    return (
        f"osk {name} comes from {distribution}, which is installed but failed to load{why}. "
        f"Reinstall it with: pip install --force-reinstall {install.removeprefix('pip install ')}"
    )
