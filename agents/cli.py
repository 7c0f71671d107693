"""``chimera worker``: run a Faust worker of :mod:`agents.app` (what ``faust -A agents.app worker`` does)."""

from __future__ import annotations

import json
import os
import sys

import click

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@click.command()
@click.option(
    "--services",
    default=None,
    help="Comma-separated services to run (e.g. features,strategy); default CHIMERA_SERVICES or all.",
)
@click.option("--loglevel", "-l", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
def worker(services: str | None, loglevel: str) -> None:
    """Run a Faust worker with the services chosen in settings."""
    if services is not None:
        if "agents.app" in sys.modules:
            raise click.UsageError("--services must be given before agents.app is imported")
        chosen = [s.strip() for s in services.split(",") if s.strip()]
        # the app is built from the settings when agents.app is imported: the option has to be there
        os.environ["CHIMERA_SERVICES"] = json.dumps(chosen)
        from chimera.settings import get_settings

        get_settings.cache_clear()
    try:
        from agents.app import app
    except ValueError as exc:  # e.g. an unknown service name
        raise click.UsageError(str(exc)) from exc
    from faust.cli.base import prepare_app

    prepare_app(app, "agents.app")
    app.Worker(loglevel=loglevel).execute_from_commandline()
