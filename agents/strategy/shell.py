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
from agents.strategy.records import GateRequest, ModelRequest
from sinks.redis import EntryGate

MAX_ROUNDS = 3  # model, gate, decision: a fourth request would be a core bug, not a retry case


async def run_decision(
    state: SymbolState, ev: FeatureEvent, ctx: Ctx, model: ModelRunner, gate: EntryGate
) -> core.Outcome:
    for _ in range(MAX_ROUNDS):
        out = core.attempt(state, ev, ctx)
        if isinstance(out, ModelRequest):
            ctx = replace(ctx, model=await model.run(out.features, out.side))
        elif isinstance(out, GateRequest):
            ctx = replace(ctx, gate=await reserve_entry(gate, out))
        else:
            return out
    raise RuntimeError(f"the core still asks for input after {MAX_ROUNDS} rounds: {out}")
