"""Shared CLI plumbing: the CliError type and the consoles."""

from __future__ import annotations

from rich.console import Console

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "CliError", "console", "console_err"]

EXIT_FAILURE = 1
EXIT_USAGE = 2

console = Console(highlight=False, soft_wrap=True, emoji=False)
console_err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class CliError(Exception):
    """An expected failure: printed as one line, with an exit code (1 failure, 2 usage/bad input)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
