"""`certbound pki`: provisioning (filled in by the PKI work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Provision a CA and client/server certificates.", no_args_is_help=True)
