"""The demo's summary, read back from the run's ClickHouse tables (so the record is shown to be
real), each figure checked against the runner's own totals.

SQL keeps to what clickhouse-server 18.16 runs too (``FINAL``, ``argMax``, no window functions);
the equity path for the drawdown is folded in Python from ``positions_snapshots``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from agents.demo.runner import RunOutcome, Totals
from sinks.clickhouse.backend import ClickHouseBackend

TOL = Decimal("1e-8")  # the venue books money to 8 places
# S6 books a settlement exactly (qty · mark · rate), the venue to 8 places: up to half a unit
# of the 8th place apart per settlement
PER_SETTLEMENT = Decimal("0.5e-8")


@dataclass(frozen=True)
class Check:
    name: str
    record: str  # what ClickHouse says
    runner: str  # what the runner counted
    ok: bool


@dataclass
class Summary:
    run_id: str
    database: str
    bundle_id: str
    bundle_rev: str
    engine: str
    files: list[str]
    records: int
    ticks: int
    wall_s: float
    events_per_s: float
    initial_usdt: Decimal
    regime: str = "DAILY"  # the pinned label, or DAILY: S2's daily job
    trades: int = 0
    wins: int = 0
    open_positions: int = 0
    end_of_run_closes: int = 0
    pnl_net: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)  # received (> 0) / paid (< 0)
    funding_settlements: int = 0
    by_symbol: dict[str, dict[str, Any]] = field(default_factory=dict)  # trades, wins, pnl_net, funding
    max_drawdown: Decimal = Decimal(0)
    max_drawdown_pct: float = 0.0
    orders_by_type: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    slippage_bps: float | None = None
    slippage_fills: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None

    @property
    def gross(self) -> Decimal:
        return self.pnl_net + self.fees - self.funding

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.update(win_rate=self.win_rate, gross=self.gross, ok=self.ok)
        return _plain(doc)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _one(db: ClickHouseBackend, sql: str) -> tuple[Any, ...]:
    return db.query(sql).rows[0]


def drawdown(path: list[tuple[int, str, int, Decimal]], initial: Decimal) -> tuple[Decimal, float]:
    """Deepest fall of equity (initial + every position's latest realised + unrealised PnL) from
    its running peak, in USDT (negative) and as a share of that peak."""
    latest: dict[str, Decimal] = {}
    total = Decimal(0)
    peak, worst, worst_pct = initial, Decimal(0), 0.0
    for _ts, pos_id, _seq, value in path:
        total += value - latest.get(pos_id, Decimal(0))
        latest[pos_id] = value
        equity = initial + total
        peak = max(peak, equity)
        if equity - peak < worst:
            worst = equity - peak
            worst_pct = float(worst / peak)
    return worst, worst_pct


def read(db: ClickHouseBackend, outcome: RunOutcome, summary: Summary) -> Summary:
    """Fill ``summary`` from the record and check it against ``outcome.totals``."""
    s, t = summary, outcome.totals
    reasons = Counter(
        {
            str(r): int(n)
            for r, n in db.query("SELECT reason, count() FROM signals FINAL GROUP BY reason").rows
        }
    )
    s.decisions = dict(reasons.most_common())
    positions = db.query(
        "SELECT symbol, argMax(status, seq), argMax(realized_pnl, seq) "
        "FROM positions_snapshots FINAL GROUP BY pos_id, symbol"
    ).rows
    closed = [pnl for _, status, pnl in positions if status == "CLOSED"]
    s.trades, s.wins = len(closed), sum(1 for p in closed if p > 0)
    s.open_positions = len(positions) - len(closed)
    s.pnl_net = sum((pnl for _, _, pnl in positions), Decimal(0))
    for sym, status, pnl in sorted(positions):
        row = s.by_symbol.setdefault(str(sym), _symbol_row())
        row["pnl_net"] += pnl
        if status == "CLOSED":
            row["trades"] += 1
            row["wins"] += int(pnl > 0)
    path = db.query(
        "SELECT ts, pos_id, seq, realized_pnl + unrealized_pnl "
        "FROM positions_snapshots FINAL ORDER BY ts, pos_id, seq"
    ).rows
    s.max_drawdown, s.max_drawdown_pct = drawdown([(t, p, q, v) for t, p, q, v in path], s.initial_usdt)
    latest = (
        "SELECT client_order_id, argMax(order_type, version) AS order_type "
        "FROM orders FINAL GROUP BY client_order_id"
    )
    types = db.query(
        f"SELECT order_type, count() AS n FROM ({latest}) GROUP BY order_type ORDER BY n DESC"
    ).rows
    s.orders_by_type = {str(k): int(n) for k, n in types}
    n_fills, fees, slip, slip_n = _one(
        db,
        "SELECT count(), sum(fee), avgIf(slippage_bps, NOT isNaN(slippage_bps)), "
        "countIf(NOT isNaN(slippage_bps)) FROM fills FINAL",
    )
    s.fills, s.fees, s.slippage_fills = int(n_fills), Decimal(fees or 0), int(slip_n)
    s.slippage_bps = float(slip) if slip_n else None
    by_sym = db.query(
        "SELECT symbol, count(), sum(amount_usdt) FROM funding_records FINAL GROUP BY symbol ORDER BY symbol"
    ).rows
    for sym, n, amount in by_sym:
        row = s.by_symbol.setdefault(str(sym), _symbol_row())
        row["funding"], row["funding_settlements"] = Decimal(amount), int(n)
    n_funding = sum(int(n) for _, n, _ in by_sym)
    s.funding = sum((Decimal(a) for _, _, a in by_sym), Decimal(0))
    s.funding_settlements = n_funding
    s.notes += _funding_past_data(db)
    s.end_of_run_closes = t.end_of_run_closes
    s.checks = _checks(db, s, t, reasons, TOL + int(n_funding) * PER_SETTLEMENT)
    return s


def _funding_past_data(db: ClickHouseBackend) -> list[str]:
    """Settlements after a symbol's last bar: a position held over a gap in its recording (the
    shipped XRP week ends six weeks before the BTC month does) is paid funding all the while, on
    the recorded rates and marks where they go on, else the last ones."""
    last = dict(db.query("SELECT symbol, max(t0) FROM signals FINAL GROUP BY symbol").rows)
    rows = db.query("SELECT symbol, funding_time, amount_usdt FROM funding_records FINAL").rows
    late: dict[str, list[Decimal]] = {}
    for sym, when, amount in rows:
        if sym in last and when > last[sym]:
            late.setdefault(str(sym), []).append(Decimal(amount))
    return [
        f"{sym}: {len(a)} funding settlements ({_usdt(sum(a, Decimal(0)))}) fell after its last bar, "
        "on a position held past the end of its data"
        for sym, a in sorted(late.items())
    ]


def _symbol_row() -> dict[str, Any]:
    return {"trades": 0, "wins": 0, "pnl_net": Decimal(0), "funding": Decimal(0), "funding_settlements": 0}


def _checks(
    db: ClickHouseBackend, s: Summary, t: Totals, reasons: Counter[str], s6_tol: Decimal
) -> list[Check]:
    def close(a: Decimal, b: Decimal) -> bool:
        return abs(a - b) <= TOL

    out = [
        Check(
            "decisions", str(sum(reasons.values())), str(sum(t.decisions.values())), reasons == t.decisions
        ),
        Check(
            "orders",
            str(sum(s.orders_by_type.values())),
            str(t.orders),
            sum(s.orders_by_type.values()) == t.orders,
        ),
        Check("fills", str(s.fills), str(t.fills), s.fills == t.fills),
        Check("fees", str(s.fees), str(t.fees), close(s.fees, t.fees)),
        Check("funding", str(s.funding), str(t.funding), close(s.funding, t.funding)),
        Check("trades", str(s.trades), str(t.trades), s.trades == t.trades),
        Check("PnL (S6)", str(s.pnl_net), str(t.realized), close(s.pnl_net, t.realized)),
    ]
    flat = db.query(
        "SELECT symbol, sum(if(side = 'BUY', qty, -qty)) AS q FROM fills FINAL GROUP BY symbol HAVING q != 0"
    ).rows
    if not flat:  # every position closed: cash is the fills' notional, fees and funding alone
        (cash,) = _one(
            db, "SELECT sum(if(side = 'SELL', price * qty, -(price * qty))) - sum(fee) FROM fills FINAL"
        )
        cash = Decimal(cash or 0) + s.funding
        out.append(Check("cash (fills)", str(cash), str(t.wallet_change), close(cash, t.wallet_change)))
    s6_ok = abs(s.pnl_net - t.wallet_change) <= s6_tol  # S6's books against the venue's wallet
    out.append(Check("PnL = wallet", str(s.pnl_net), str(t.wallet_change), s6_ok))
    gate_ok = t.gate_slots_inuse == t.open_positions and (t.open_positions or t.gate_budget_inuse == 0)
    out.append(
        Check(
            "gate",
            f"{t.open_positions} open",
            f"{t.gate_slots_inuse} slots, {t.gate_budget_inuse} USDT",
            bool(gate_ok),
        )
    )
    if t.dead_letters or t.malformed:
        out.append(Check("dead letters", "0", str(t.dead_letters), t.dead_letters == 0))
    return out


def _usdt(x: Decimal) -> str:
    return f"{x:,.2f} USDT"


def _symbol_line(sym: str, r: dict[str, Any]) -> str:
    line = f"{sym} {r['trades']:,} trades, {_usdt(r['pnl_net'])}"
    if r["funding_settlements"]:
        line += f" (funding {_usdt(r['funding'])} over {r['funding_settlements']} settlements)"
    return line


def render(s: Summary) -> str:
    """The summary as text for a terminal."""
    rate = f"{s.win_rate:.1%}" if s.win_rate is not None else "n/a"
    ret = float(s.pnl_net / s.initial_usdt)
    at_end = f" ({s.end_of_run_closes} closed at the end of the data)" if s.end_of_run_closes else ""
    orders = ", ".join(f"{k} {v:,}" for k, v in s.orders_by_type.items()) or "none"
    slip = (
        f"{s.slippage_bps:+.2f} bps over {s.slippage_fills:,} fills" if s.slippage_bps is not None else "n/a"
    )
    total = sum(s.decisions.values())
    regime = "S2's daily job" if s.regime == "DAILY" else f"pinned {s.regime}"
    reasons = ", ".join(f"{k} {v:,}" for k, v in s.decisions.items())
    per_symbol = "; ".join(_symbol_line(sym, r) for sym, r in s.by_symbol.items())
    checks = "  ".join(f"{c.name} {'ok' if c.ok else 'MISMATCH'}" for c in s.checks)
    lines = [
        f"chimera demo: run {s.run_id} ({s.engine}), bundle {s.bundle_id} rev {s.bundle_rev}",
        f"  data          {len(s.files)} file(s), {s.records:,} records ({s.ticks:,} ticks) "
        f"in {s.wall_s:.1f} s: {s.events_per_s:,.0f} events/s",
        f"  trades        {s.trades:,} closed{at_end}, {s.open_positions} open; win rate {rate}",
        f"  PnL net       {_usdt(s.pnl_net)} ({ret:+.2%} of {_usdt(s.initial_usdt)}) = gross {_usdt(s.gross)}"
        f" - fees {_usdt(s.fees)} + funding {_usdt(s.funding)} ({s.funding_settlements} settlements)",
        f"  by symbol     {per_symbol or 'no positions'}",
        f"  max drawdown  {_usdt(s.max_drawdown)} ({s.max_drawdown_pct:+.2%} from the peak)",
        f"  orders        {orders}",
        f"  slippage      {slip} (vs mid at send; + is against us)",
        f"  decisions     {total:,}: {reasons}",
        f"  regime        {regime}",
        f"  record        ClickHouse database {s.database}; checked against the engine: {checks}",
    ]
    bad = [c for c in s.checks if not c.ok]
    lines += [f"  MISMATCH      {c.name}: record {c.record}, engine {c.runner}" for c in bad]
    lines += [f"  note          {n}" for n in s.notes]
    return "\n".join(lines)
