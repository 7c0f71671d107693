"""The demo's default runner: the in-process engine (``agents.engine``) on the settings' Redis and
the run's ClickHouse database; the run's Redis keys are deleted once it is done (its record is in
ClickHouse, the keys were its working state)."""

from __future__ import annotations

from decimal import Decimal

from agents.config.bundle import Bundle
from agents.connectors.recordings import Record
from agents.demo.runner import RunContext, RunOutcome, Totals
from agents.engine import BacktestResult, EngineConfig, drop_keys, run_backtest
from agents.engine.ends import CLOSE_REASONS, DataEnds
from sinks.clickhouse.factory import open_backend
from sinks.redis import make_client


def totals_of(result: BacktestResult) -> Totals:
    final = result.final
    assert final is not None
    exits = [e for e in result.position_events if e.kind == "EXIT"]
    last: dict[str, Decimal] = {}
    for e in result.position_events:
        last[e.pos_id] = e.realized_pnl
    wallet = sum(
        (b.total - result.initial_usdt for m in final.balances.values() for a, b in m.items() if a == "USDT"),
        Decimal(0),
    )
    return Totals(
        decisions=result.reasons(),
        orders=len({r.client_order_id for r in result.orders}),
        fills=len(result.fills),
        fees=sum((f.fee for _, f in result.fills), Decimal(0)),
        funding=sum((p.amount for p in result.funding), Decimal(0)),
        realized=sum(last.values(), Decimal(0)),
        trades=len(exits),
        open_positions=len(final.positions),
        wallet_change=wallet,
        gate_budget_inuse=final.gate.budget_inuse,
        gate_slots_inuse=sum(final.gate.concurrency.values()),
        end_of_run_closes=sum(1 for i in result.intents if i.reason in CLOSE_REASONS),
        dead_letters=len(result.dead_letters) + len(result.rejected_features),
        malformed=len(result.malformed),
    )


async def run(records: list[Record], bundle: Bundle, ctx: RunContext) -> RunOutcome:
    settings = ctx.settings
    cfg = EngineConfig(
        run_id=ctx.run_id,
        regime=ctx.regime,
        initial_usdt=ctx.initial_usdt,
        batch_window_ms=settings.mkt_batch_window_ms,
        batch_max_ticks=settings.mkt_batch_max_ticks,
        book_levels=settings.mkt_book_levels,
        sink_batch_rows=settings.sink_batch_rows,
    )
    ends = DataEnds(records, cfg.batch_window_ms)
    kept = ends.trim(records)
    redis = make_client(settings, client_name=f"demo-{ctx.run_id}")
    backend = open_backend(settings, database=ctx.database)
    try:
        result = await run_backtest(kept, bundle, redis, backend, cfg, progress=ctx.progress, ends=ends)
        if ctx.progress is not None:
            ctx.progress(len(records) - len(kept))
        await drop_keys(redis, cfg.key_prefix)
    finally:
        backend.close()
        await redis.aclose()
    notes = ends.notes() + [f"malformed record: {m}" for m in result.malformed[:5]]
    notes += [f"feature event refused by its contract: {x}" for x in result.rejected_features[:5]]
    notes += [f"row refused by {d.table}: {d.error}" for d in result.dead_letters[:5]]
    return RunOutcome(
        run_id=result.run_id,
        database=ctx.database,
        key_prefix=result.key_prefix,
        records=result.counts.records,
        ticks=result.counts.ticks,
        wall_s=result.wall_s,
        totals=totals_of(result),
        notes=notes,
    )
