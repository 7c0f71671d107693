"""The Redis keyspace (DESIGN §4): one method per key, each building exactly one key.

Hash tags (the ``{...}`` part) fix a key's Cluster slot: Redis hashes only the first ``{...}``
of a key, so keys sharing a tag live on one slot and one Lua script may touch them together.

Deviation from the spec's names: the entry gate (B7) must take margin budget AND a concurrency
slot in one atomic step, and a Lua script on a Cluster touches one slot only. The spec's
``risk:{budget}:fut_margin:inuse`` and ``risk:{concurrency}:<symbol>`` hash to different slots,
so the gate's keys share one tag instead: ``risk:{gate}:budget:fut_margin:inuse``,
``risk:{gate}:concurrency:<symbol>``, reservation records ``risk:{gate}:resv:<reservation_id>``
and the lease index ``risk:{gate}:leases``. The cost: all gate traffic lands on one Cluster
node, which is what atomicity across budget and concurrency requires.

A prefix (``Settings.redis_key_prefix``, e.g. ``bt.<run_id>.``) gives a backtest its own
keyspace. It may not contain braces, so the tag that follows it stays the key's hash tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chimera.settings import Settings

_PREFIX = re.compile(r"^[A-Za-z0-9._:-]*$")
# ':' is allowed inside parts because venue symbols may carry it (ccxt's "BTC/USDT:USDT")
_PART = re.compile(r"^[A-Za-z0-9._/:@=+-]{1,200}$")
_TAG = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

GATE_TAG = "{gate}"


def _part(what: str, value: str) -> str:
    if not isinstance(value, str) or not _PART.fullmatch(value):
        raise ValueError(
            f"bad {what} for a Redis key: {value!r} (1-200 chars of letters, digits, ._/:@=+-; no braces)"
        )
    return value


@dataclass(frozen=True, slots=True)
class Keyspace:
    """Build every key Chimera writes, under one prefix."""

    prefix: str = ""

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                f"bad Redis key prefix {self.prefix!r}: letters, digits and ._:- only "
                "(braces would steal the hash tag)"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyspace:
        return cls(settings.redis_key_prefix)

    def _k(self, key: str) -> str:
        return f"{self.prefix}{key}"

    # production switches and shared state
    def kill_switch(self) -> str:
        return self._k("prod:{kill_switch}")

    def regime_market_state(self) -> str:
        return self._k("prod:{regime}:market:state")

    def health_system_state(self) -> str:
        return self._k("prod:{health}:system:state")

    def cfg_active(self) -> str:
        return self._k("cfg:{active}")

    # entry gate (B7): one tag for all of them, see the module docstring
    def gate_budget_inuse(self) -> str:
        return self._k(f"risk:{GATE_TAG}:budget:fut_margin:inuse")

    def gate_concurrency(self, symbol: str) -> str:
        return self.gate_concurrency_prefix() + _part("symbol", symbol)

    def gate_reservation(self, reservation_id: str) -> str:
        return self.gate_reservation_prefix() + _part("reservation_id", reservation_id)

    def gate_leases(self) -> str:
        return self._k(f"risk:{GATE_TAG}:leases")

    def gate_concurrency_prefix(self) -> str:
        """Scripts build a symbol's key from this when only a stored record names the symbol."""
        return self._k(f"risk:{GATE_TAG}:concurrency:")

    def gate_reservation_prefix(self) -> str:
        return self._k(f"risk:{GATE_TAG}:resv:")

    # market, router, execution
    def funding_next(self, symbol: str) -> str:
        return self._k("funding:{next}:" + _part("symbol", symbol))

    def router_param_curves(self) -> str:
        return self._k("router:{param}:curves")

    def router_param_curves_draft(self) -> str:
        return self._k("router:{param}:curves:draft")

    def guard_stop(self, symbol: str, intent_id: str) -> str:
        return self._k(f"guard:{{stop}}:{_part('symbol', symbol)}:{_part('intent_id', intent_id)}")

    def exec_twap_queue(self) -> str:
        """ZSet of TWAP slices, score = due_ts."""
        return self._k("prod:{exec}:twap:queue")

    # positions
    def pos_sl_level(self, pos_id: str) -> str:
        return self._k("pos:{sl}:level:" + _part("pos_id", pos_id))

    def pos_tp_ladder(self, pos_id: str) -> str:
        return self._k("pos:{tp}:ladder:" + _part("pos_id", pos_id))

    def pos_adds(self, pos_id: str) -> str:
        return self._k("pos:{adds}:" + _part("pos_id", pos_id))

    # batch job watermarks
    def recon_last_run_ts(self) -> str:
        return self._k("recon:{last_run_ts}")

    def labels_last_backfill_ts(self) -> str:
        return self._k("labels:{last_backfill_ts}")

    def bt_last_run_ts(self) -> str:
        return self._k("bt:{last_run_ts}")

    # locks: always a TTL, released only by the holder's token (sinks/redis/locks.py)
    def lock_pos(self, pos_id: str) -> str:
        return self._k("lock:{pos}:" + _part("pos_id", pos_id))

    def lock_treasury(self, from_account: str, to_account: str) -> str:
        return self._k(f"lock:{{treasury}}:{_part('from', from_account)}:{_part('to', to_account)}")

    def lock_router_param_update(self) -> str:
        return self._k("lock:{router}:param:update")

    # idempotency records: SET NX with a TTL (sinks/redis/idempotency.py)
    def idem(self, kind: str, key: str) -> str:
        if not isinstance(kind, str) or not _TAG.fullmatch(kind):
            # an empty tag "{}" would make Redis hash the whole key, scattering one kind over slots
            raise ValueError(f"bad idempotency kind {kind!r}: 1-64 chars of letters, digits, ._-")
        return self._k(f"idem:{{{kind}}}:{_part('idempotency key', key)}")
