"""The ``chimera`` command. Subcommands live beside the code they drive and load lazily,
so ``chimera --help`` is fast and one broken optional part does not take the others down."""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "up": "chimera.stack.cli:up",
    "status": "chimera.stack.cli:status",
    "down": "chimera.stack.cli:down",
    "topics": "topics.cli:topics",
    "db": "sinks.clickhouse.cli:db",
    "worker": "agents.cli:worker",
    "replay": "agents.connectors.cli:replay",
    "record": "agents.connectors.cli:record",
    "config": "agents.config.cli:config",
    "demo": "agents.demo.cli:demo",
}

HELP = {
    "up": "Start the embedded stack (Tansu, redis-server, chdb) in the background.",
    "status": "Show whether each part of the embedded stack is up.",
    "down": "Stop the embedded stack; leaves no process behind.",
    "topics": "Create and list Kafka topics (the contracts of topics/).",
    "db": "ClickHouse: migrate the schema, run queries.",
    "worker": "Run a Faust worker with the services chosen in settings.",
    "replay": "Publish recorded market data files into (prefixed) market topics.",
    "record": "Capture market topics to a file that `replay` reads back.",
    "config": "Config bundles: load a file, activate a bundle, show the active one.",
    "demo": "Replay real recorded data through the whole pipeline on SimVenue; summary from ClickHouse.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chimera-trading")
def main() -> None:
    """Chimera: an event-driven trading platform for Binance-style spot and USDT perpetuals.

    Settings come from CHIMERA_* environment variables (see README). Start with
    `chimera up`, then `chimera demo`.
    """
