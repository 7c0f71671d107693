"""The thin shell around the core, minus Faust: given what was read (``Ctx``), answer the core's
requests (model under its timeout, then the entry gate) and return ``decide``'s result. The
future Faust agent loads the symbol's state from its table, calls :func:`run_decision`, stores
the state and carries out the effects in order.
"""

from __future__ import annotations

from dataclasses import replace

from agents.features.core import FeatureEvent
from agents.strategy import core
from agents.strategy.context import Ctx
from agents.strategy.entry import SymbolState
from agents.strategy.gate_step import reserve_entry
from agents.strategy.model_runner import ModelRunner
from agents.strategy.records import Decision, Effect, ModelRequest
from sinks.redis import EntryGate

MAX_ROUNDS = 3  # model, gate, decide: a fourth request would be a core bug, not a retry case


async def run_decision(
    state: SymbolState, ev: FeatureEvent, ctx: Ctx, model: ModelRunner, gate: EntryGate
) -> tuple[SymbolState, Decision, list[Effect]]:
    for _ in range(MAX_ROUNDS):
        need = core.pending_input(state, ev, ctx)
        if need is None:
            return core.decide(state, ev, ctx)
        if isinstance(need, ModelRequest):
            ctx = replace(ctx, model=await model.run(need.features, need.side))
        else:
            ctx = replace(ctx, gate=await reserve_entry(gate, need))
    raise RuntimeError(f"the core still asks for input after {MAX_ROUNDS} rounds: {need}")
