"""S6's auto-treasury check as its agent runs it, on a paper venue's wallets, the real Redis and
clickhouse-server: the futures wallet under ``min_free_fut`` gives one PENDING treasury_transfers
row per bucket with a deterministic transfer_id; a second look or a redelivered check in the bucket
adds no row, a restarted worker's check folds into the same one, the next bucket is a new transfer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from paper_desk import make_exchange
from positions_kit import BTC, FUT_BTC, T0, D, make_config

from agents.connectors.simvenue import SimVenue
from agents.positions.auto_treasury import TABLE, AutoTreasury, VenueWallets
from agents.positions.service import PositionService
from agents.positions.treasury import transfer_id_for
from agents.shell import RowQueue
from chimera.model import Market, TestClock
from sinks.clickhouse.server_backend import ServerBackend
from sinks.clickhouse.sink import BatchingSink
from sinks.redis import EntryGate, Keyspace, RedisClient

pytestmark = pytest.mark.clickhouse
HOUR = 3_600_000
CFG = make_config(treasury={"min_free_fut": "500", "step": "0.01", "bucket_ms": HOUR})


def paper_wallets(fut: str, spot: str) -> VenueWallets:
    ex = make_exchange(initial_balances={"FUT": {"USDT": fut}, "SPOT": {"USDT": spot}})
    return VenueWallets(SimVenue(ex.config))


async def worker(client: RedisClient, ks: Keyspace, gate: EntryGate, ch: ServerBackend,
                 wallets: VenueWallets) -> AutoTreasury:  # fmt: skip
    """What a (re)started S6 worker holds: its service, its own sink and row queue."""
    svc = PositionService(CFG, {BTC: FUT_BTC}, client, ks, gate, token=f"w-{uuid.uuid4().hex[:6]}")
    await svc.load()
    sink = BatchingSink(ch, TestClock(T0), token_salt=f"s6-{uuid.uuid4().hex[:8]}:")
    return AutoTreasury(svc, wallets, RowQueue(sink, "treasury rows"))


def transfers(ch: ServerBackend, final: bool) -> list[dict[str, Any]]:
    res = ch.query(
        "SELECT transfer_id, version, status, from_account, to_account, toString(amount) AS amount, "
        f"reason, requested_by, created_ts FROM {TABLE} {'FINAL' if final else ''} ORDER BY created_ts"
    )
    rows = [dict(zip(res.columns, r, strict=True)) for r in res.rows]
    return [{**r, "amount": D(r["amount"])} for r in rows]


async def test_one_pending_transfer_per_bucket_however_often_it_is_checked(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate, ch_fresh: ServerBackend
) -> None:
    ch = ch_fresh
    wallets = paper_wallets(fut="320.004", spot="1000")
    s6 = await worker(client, keyspace, gate, ch, wallets)
    first = await s6.check(T0 + 10)
    assert (first.decision.why, first.decision.need) == ("TRANSFER", D("179.996"))
    bucket = T0 - T0 % HOUR
    tid = transfer_id_for(Market.SPOT, Market.FUT, "USDT", bucket)
    [row] = transfers(ch, final=False)
    assert row == {
        "transfer_id": tid, "version": 0, "status": "PENDING", "from_account": "SPOT", "to_account": "FUT",
        "amount": D("180.00"), "reason": "S6 auto: need=179.996 USDT", "requested_by": "s6-auto",
        "created_ts": T0 + 10,
    }  # fmt: skip

    # the same need looked at again, and the same check redelivered: same id, no second row
    assert (await s6.check(T0 + 20)).decision.request.transfer_id == tid  # type: ignore[union-attr]
    await s6.check(T0 + 10)
    # another need in the bucket (the wallet moved): the first transfer stands, nothing new
    moved = await worker(client, keyspace, gate, ch, paper_wallets(fut="100", spot="1000"))
    assert (await moved.check(T0 + 30)).row is None
    assert len(transfers(ch, final=False)) == 1

    # a restarted worker (its rows may never have been written) asks again: folded into the one row
    restarted = await worker(client, keyspace, gate, ch, wallets)
    again = await restarted.check(T0 + 40)
    assert again.row is not None and restarted.written == {tid}  # given again, queued again
    assert [r["transfer_id"] for r in transfers(ch, final=True)] == [tid]

    # the next hour is a new transfer; a wallet at its minimum needs none
    later = await s6.check(T0 + HOUR)
    assert later.row is not None and later.row["transfer_id"] != tid
    full = await worker(client, keyspace, gate, ch, paper_wallets(fut="500", spot="1000"))
    assert (await full.check(T0 + 2 * HOUR)).decision.why == "NO_NEED"
    got = transfers(ch, final=True)
    assert [(r["transfer_id"], r["status"], r["amount"]) for r in got] == [
        (tid, "PENDING", D("180.00")),
        (later.row["transfer_id"], "PENDING", D("180.00")),
    ]


async def test_spot_short_of_the_need_asks_for_nothing(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate, ch_fresh: ServerBackend
) -> None:
    ch = ch_fresh
    s6 = await worker(client, keyspace, gate, ch, paper_wallets(fut="320", spot="179.99"))
    out = await s6.check(T0)
    assert (out.decision.why, out.row) == ("SPOT_SHORT", None)
    assert transfers(ch, final=False) == []
