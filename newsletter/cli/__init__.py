"""The ``newsletter`` command: thin wrappers that parse, call one service, print.

Each module registers its commands on the one Typer app in ``base``; ``main`` imports them
all. The CLI is the top layer: it may import every package below it, and nothing imports it.
"""

from newsletter.cli.main import app, main

__all__ = ["app", "main"]
