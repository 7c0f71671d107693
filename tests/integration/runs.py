"""A whole paced run of the trading path on a stack of its own, and what the tests look at in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invariants import unprotected
from pipeline_kit import (
    SERVICES,
    Duplicator,
    Made,
    PacedReplay,
    Stack,
    agent_crashes,
    get_json,
    position_events,
    replay_messages,
    settle,
)

from tests.agents.worker_kit import Worker
from topics.trading import PositionEvent

START_TIMEOUT_S = 120.0


@dataclass
class Run:
    stack: Stack
    worker: Worker
    replay: PacedReplay
    hourly_unprotected: list[str]
    copies: int = 0

    def desk(self) -> dict[str, Any]:
        partition = self.replay.partition["mkt.perp"]
        desk = get_json(f"{self.worker.web}/router/desk/{partition}/")
        assert desk is not None, self.worker.log_tail()
        return dict(desk)

    def events(self) -> list[PositionEvent]:
        return position_events(self.stack)


def replay_run(made: Made, name: str, duplicate: bool = False) -> Run:
    stack = made.stack(name)
    stack.prepare()
    worker = made.worker(stack).start(services=SERVICES, timeout_s=START_TIMEOUT_S)
    copier = Duplicator(stack.bootstrap, [stack.topic("ord.intents"), stack.topic("ord.results")])
    if duplicate:
        copier.start()
    run = Run(stack, worker, PacedReplay(stack, replay_messages(), lambda: worker), [])
    for n in run.replay:
        if n % 60 == 0:  # every hour of event time, the venue's truth
            run.hourly_unprotected += [f"batch {n}: {p}" for p in unprotected(run.desk())]
    if duplicate:
        copier.stop()
        run.copies = copier.copied
    settle(stack)
    worker.assert_alive()
    assert not agent_crashes(worker), agent_crashes(worker)
    return run
