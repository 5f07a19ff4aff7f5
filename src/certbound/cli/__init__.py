"""The `certbound` command line: a thin Typer layer over the library packages.

Exit codes: 0 ok, 1 failure, 2 usage / bad input (Typer's own usage errors are 2 as well).
"""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from certbound import __version__
from certbound.cli._common import CliError, console_err

__all__ = ["CliError", "app", "main"]

app = typer.Typer(
    name="certbound",
    help="Mutual TLS for OAuth 2.0 / OpenID Connect (RFC 8705).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_debug = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"certbound {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    global _debug
    _debug = debug


def _register() -> None:
    from certbound.cli import clients, db, keys, pki, serve, token

    app.add_typer(pki.app, name="pki")
    app.command("serve")(serve.serve)
    app.add_typer(clients.app, name="clients")
    app.add_typer(keys.app, name="keys")
    app.add_typer(db.app, name="db")
    app.command("token")(token.token)
    app.command("call")(token.call)
    from certbound.cli import demo, example_api, gateway

    app.command("gateway")(gateway.gateway)
    app.command("example-api")(example_api.example_api)
    app.command("demo")(demo.demo)


_register()


def _click_exceptions() -> tuple[type[Exception], ...]:
    """Click's exception base (Typer 0.26+ vendors click as typer._click)."""
    import click

    found: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException

        found.append(ClickException)
    except ImportError:  # pragma: no cover - older Typer uses click itself
        pass
    return tuple(found)


def main() -> None:
    """Console entry point: run the app, turning CliError into a one-line message and exit code."""
    try:
        code = app(standalone_mode=False)
    except CliError as exc:
        if _debug:
            raise
        console_err.print(Text.assemble(("error: ", "bold red"), exc.message))
        sys.exit(exc.exit_code)
    except typer.Abort:
        console_err.print("aborted")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and the unexpected
        if isinstance(exc, _click_exceptions()):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 2))
        if _debug:
            raise
        console_err.print(
            Text.assemble(("error: ", "bold red"), f"unexpected {type(exc).__name__}: {exc}")
        )
        console_err.print("run again with --debug for the traceback")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
