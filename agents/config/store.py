"""Where bundles live and which one is active (spec B6.1 / B6.3, S10 ``GET /active``).

- ``config_bundles`` (ClickHouse): every bundle loaded, with its canonical content and lint result;
  a refused one is recorded too (``lint_ok = 0`` and the messages), under a rev of its raw text, so
  an operator sees what was tried. Only ``lint_ok`` bundles can be activated.
- ``config_active`` (ClickHouse, ReplacingMergeTree on scope by version): the history of activations.
- ``cfg:{active}`` (Redis): ``{"bundle_id", "rev"}``, what every service reads at start.
- ``cfg.events`` (Kafka): a :class:`topics.ops.ConfigEvent` per activation, the hot-reload trigger.

``activate`` writes them in that order: the record first, then the switch, then the announcement.
A crash in between leaves the record ahead of the switch, and running ``activate`` again repairs
it. Two operators activating at the same moment are not serialised (no lock): the last write wins
on each store; the spec's promote flow (S12 → S10, RBAC) is where that belongs.

The ClickHouse backends are synchronous: calls run in a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.config.active import ActiveBundle
from agents.config.bundle import Bundle, BundleRefused, parse_bundle
from chimera.model import Clock, stable_hash
from sinks.clickhouse.backend import ClickHouseBackend, quote_string
from sinks.redis import Keyspace, RedisClient
from topics.ops import ConfigEvent

SCOPE = "global"
BUNDLES = "config_bundles"
ACTIVE = "config_active"
BUNDLE_COLUMNS = (
    "bundle_id",
    "rev",
    "parent_rev",
    "author",
    "status",
    "content",
    "lint_ok",
    "lint_messages",
    "ts",
)
ACTIVE_COLUMNS = ("scope", "version", "bundle_id", "rev", "promotion_id", "ts")

SendEvent = Callable[[ConfigEvent], None]


class UnknownBundle(LookupError):
    """No loaded (and valid) bundle has that id / rev."""


@dataclass(frozen=True, slots=True)
class ActiveRef:
    bundle_id: str
    rev: str

    def to_json(self) -> str:
        return json.dumps({"bundle_id": self.bundle_id, "rev": self.rev}, sort_keys=True)

    @classmethod
    def parse(cls, raw: str | bytes | None) -> ActiveRef | None:
        if not raw:
            return None
        try:
            doc = json.loads(raw)
            return cls(str(doc["bundle_id"]), str(doc["rev"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class Loaded:
    bundle: Bundle
    parent_rev: str
    new: bool  # False: this (bundle_id, rev) was loaded before


def _raw_bundle_id(raw: str) -> str | None:
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    bid = doc.get("bundle_id") if isinstance(doc, dict) else None
    ok = isinstance(bid, str) and 0 < len(bid) <= 100 and all(c.isalnum() or c in "_.-" for c in bid)
    return bid if ok else None


class ConfigStore:
    def __init__(
        self,
        backend: ClickHouseBackend,
        redis: RedisClient,
        keyspace: Keyspace,
        send_event: SendEvent | None,
        clock: Clock,
    ) -> None:
        self._ch = backend
        self._redis = redis
        self._ks = keyspace
        self._send = send_event  # None: a reader (a worker), which never activates
        self._clock = clock
        self._lock = asyncio.Lock()  # one connection: a native-protocol client is not thread-safe

    async def _ch_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(fn, *args)

    async def _query(self, sql: str) -> list[tuple[Any, ...]]:
        return list((await self._ch_call(self._ch.query, sql)).rows)

    # bundles

    async def load(self, raw: str, author: str = "cli") -> Loaded:
        """Validate and record a bundle; :class:`BundleRefused` (recorded when it names its id)."""
        try:
            bundle = parse_bundle(raw)
        except BundleRefused as exc:
            bid = _raw_bundle_id(raw)
            if bid is not None:
                rev = stable_hash("refused", raw)
                await self._insert_bundle(bid, rev, "", author, "REFUSED", raw, False, exc.messages)
            raise
        known = await self._query(
            f"SELECT rev FROM {BUNDLES} FINAL WHERE bundle_id = {quote_string(bundle.bundle_id)} "
            "AND lint_ok = 1 ORDER BY ts DESC, rev"
        )
        revs = [str(r[0]) for r in known]
        if bundle.rev in revs:
            return Loaded(bundle, "", new=False)
        parent = revs[0] if revs else ""
        await self._insert_bundle(
            bundle.bundle_id, bundle.rev, parent, author, "LOADED", bundle.document(), True, []
        )
        return Loaded(bundle, parent, new=True)

    async def _insert_bundle(
        self,
        bid: str,
        rev: str,
        parent: str,
        author: str,
        status: str,
        content: str,
        ok: bool,
        msgs: list[str],
    ) -> None:
        row = (bid, rev, parent, author, status, content, int(ok), msgs, self._clock.now_ms())
        data = [[v] for v in row]
        await self._ch_call(self._ch.insert, BUNDLES, BUNDLE_COLUMNS, data, f"{BUNDLES}:{bid}:{rev}")

    async def fetch(self, bundle_id: str, rev: str | None = None) -> Bundle:
        """A valid loaded bundle: the given rev, else the newest one loaded under ``bundle_id``."""
        where = f"bundle_id = {quote_string(bundle_id)} AND lint_ok = 1"
        if rev is not None:
            where += f" AND rev = {quote_string(rev)}"
        rows = await self._query(
            f"SELECT content FROM {BUNDLES} FINAL WHERE {where} ORDER BY ts DESC LIMIT 1"
        )
        if not rows:
            what = f"{bundle_id} rev {rev}" if rev else bundle_id
            raise UnknownBundle(f"no valid bundle {what} was loaded (`chimera config load FILE`)")
        bundle = parse_bundle(str(rows[0][0]))
        if rev is not None and bundle.rev != rev:  # content and rev disagree: a corrupted record
            raise UnknownBundle(f"bundle {bundle_id}: stored content has rev {bundle.rev}, not {rev}")
        return bundle

    # the active bundle

    async def active(self) -> ActiveRef | None:
        """``GET /active``: Redis ``cfg:{active}``, else the newest ``config_active`` row."""
        ref = ActiveRef.parse(await self._redis.get(self._ks.cfg_active()))
        if ref is not None:
            return ref
        rows = await self._query(
            f"SELECT bundle_id, rev FROM {ACTIVE} FINAL WHERE scope = {quote_string(SCOPE)} "
            "ORDER BY version DESC LIMIT 1"
        )
        return ActiveRef(str(rows[0][0]), str(rows[0][1])) if rows else None

    async def active_bundle(self) -> ActiveBundle | None:
        ref = await self.active()
        return None if ref is None else ActiveBundle.of(await self.fetch(ref.bundle_id, ref.rev))

    async def activate(self, bundle_id: str, rev: str | None = None, actor: str = "cli") -> ConfigEvent:
        if self._send is None:
            raise RuntimeError("this ConfigStore has no cfg.events sender: it cannot activate")
        send = self._send
        bundle = await self.fetch(bundle_id, rev)  # refuses unknown and refused bundles
        previous = await self.active()
        rows = await self._query(f"SELECT max(version) FROM {ACTIVE} WHERE scope = {quote_string(SCOPE)}")
        version = int(rows[0][0] or 0) + 1 if rows else 1
        now = self._clock.now_ms()
        promotion_id = f"act-{stable_hash(SCOPE, version, bundle.bundle_id, bundle.rev)}"
        data = [[SCOPE], [version], [bundle.bundle_id], [bundle.rev], [promotion_id], [now]]
        await self._ch_call(self._ch.insert, ACTIVE, ACTIVE_COLUMNS, data, f"{ACTIVE}:{promotion_id}")
        await self._redis.set(self._ks.cfg_active(), ActiveRef(bundle.bundle_id, bundle.rev).to_json())
        event = ConfigEvent(
            bundle_id=bundle.bundle_id,
            rev=bundle.rev,
            previous_rev=previous.rev if previous else None,
            scope=SCOPE,
            promotion_id=promotion_id,
            actor=actor,
            ts=now,
        )
        await asyncio.to_thread(send, event)
        return event
