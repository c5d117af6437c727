"""Errors every room of the benchmark raises for bad input (a leaf module: it imports nothing of the project)."""
from __future__ import annotations

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: the CLI prints it as one ``error:`` line and exits with status 2."""
