"""S4's pure core: ``step(state, event, ctx) -> (state, effects)``.

No broker, no Redis, no clock: event time comes with the events, ids from ``intent_id`` (slice
names per style: ``0`` market, ``m0..mN``/``t`` maker→taker, ``k`` TWAP slice, ``e``/``L``/``tp``/``sl``
OCO, ``g``/``x`` guard, ``sl``/``tp`` futures legs, ``flat`` a cancel's flatten). The same events
give the same effects, ids and results, so a replay reproduces the router byte for byte.

Intake of a new intent, in order: unknown instrument → REJECTED ``UNKNOWN_INSTRUMENT``; kill switch
ON and the intent is not an exit → REJECTED ``KILL_SWITCH`` (reduce-only futures orders and spot
sells are exits and always pass); the style's own check (TWAP slices below the lot, a guard with
no price to rest at) → REJECTED with its reason; else the style starts. A refused intent still
gets its first order's ``OrderResult`` (status REJECTED, no venue id), so S3/S6 hear back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from agents.connectors.port import Instrument, OcoRequest, OrderRequest, OrderState
from agents.router import cancel
from agents.router.book import Book
from agents.router.execution import Exec, Refuse, StyleEffect, View, cid, is_exit, request
from agents.router.messages import (
    Adopt,
    CancelIn,
    CancelOrder,
    Count,
    Ctx,
    Effect,
    Emit,
    Event,
    Intake,
    IntentIn,
    OrderUpdate,
    Place,
    PlaceOco,
    SendFailed,
    SendUnknown,
    Sent,
    SliceDue,
    Tick,
    Timer,
    Unschedule,
)
from agents.router.styles import PASSIVE, STYLES, Style, Twap
from agents.router.styles.guard import GuardStop
from agents.router.styles.oco import legs
from agents.router.tracks import Track, observe, refused
from chimera.model import ClientOrderId, Market, OrderType, Symbol
from topics.trading import OrderIntent, OrderResult

Key = tuple[Market, Symbol]


@dataclass(frozen=True, slots=True)
class RouterState:
    books: Mapping[Key, Book] = field(default_factory=dict)
    tracks: Mapping[ClientOrderId, Track] = field(default_factory=dict)
    execs: Mapping[str, Exec] = field(default_factory=dict)  # active intents (and cancels), by id
    now: int = 0

    def open_orders(self) -> list[Track]:
        return [t for t in self.tracks.values() if t.open]


def step(state: RouterState, event: Event, ctx: Ctx) -> tuple[RouterState, list[Effect]]:
    w = _Work(state, ctx)
    w.handle(event)
    return w.state(), w.out


class _Work:
    """One step's working copy: the state's maps are copied once, changed, and frozen again."""

    def __init__(self, state: RouterState, ctx: Ctx) -> None:
        self.ctx = ctx
        self.books = dict(state.books)
        self.tracks = dict(state.tracks)
        self.execs = dict(state.execs)
        self.now = state.now
        self.out: list[Effect] = []

    def state(self) -> RouterState:
        return RouterState(self.books, self.tracks, self.execs, self.now)

    # ---- helpers ---------------------------------------------------------------------------------
    def inst(self, intent: OrderIntent) -> Instrument | None:
        return self.ctx.instruments.get((intent.market, intent.symbol))

    def book(self, intent: OrderIntent) -> Book:
        return self.books.get((intent.market, intent.symbol), Book())

    def view(self, intent: OrderIntent) -> View:
        inst = self.inst(intent)
        if inst is None:  # executions exist only for known instruments; intake checks first
            raise KeyError(f"no instrument {intent.market} {intent.symbol}")
        return View(self.ctx, self.book(intent), self.now, inst, self.tracks)

    def style(self, x: Exec) -> Style:
        return PASSIVE if x.passive else STYLES[x.intent.exec]

    def _at(self, ts: int) -> None:
        self.now = max(self.now, ts)

    # ---- dispatch --------------------------------------------------------------------------------
    def handle(self, ev: Event) -> None:
        if isinstance(ev, Tick):
            self._at(ev.ts)
            self._tick(ev)
        elif isinstance(ev, Timer):
            self._at(ev.ts)
            for x in list(self.execs.values()):
                self._run(x, *self.style(x).on_tick(x, self.view(x.intent), None))
        elif isinstance(ev, OrderUpdate):
            self._at(ev.state.ts)
            self._update(ev.state, ev.sent)
        elif isinstance(ev, SendFailed):
            self._at(ev.ts)
            track = self.tracks.get(ev.client_order_id)
            if track is not None:
                self._result(*refused(track, ev.reason, ev.ts))
        elif isinstance(ev, SendUnknown):
            track = self.tracks.get(ev.client_order_id)
            if track is not None and track.unknown_since is None:
                self.tracks[track.cid] = replace(track, unknown_since=ev.ts)
                self.out.append(Count("outcome_unknown"))
        elif isinstance(ev, IntentIn):
            self._at(ev.intent.ts)
            self._intent(ev.intent)
        elif isinstance(ev, CancelIn):
            self._at(ev.cancel.ts)
            cancel.start(self, ev.cancel)
        elif isinstance(ev, SliceDue):
            self._at(ev.ts)
            self._slice(ev)
        elif isinstance(ev, Adopt):
            self._adopt(ev)

    def _tick(self, t: Tick) -> None:
        key = (t.market, t.symbol)
        book = self.books.get(key, Book())
        if t.bids is not None or t.asks is not None:
            book = book.on_levels(t.ts, t.bids or (), t.asks or ())
        if t.price is not None:
            book = book.on_trade(t.ts, t.price)
        self.books[key] = book
        for x in list(self.execs.values()):
            if x.intent.symbol == t.symbol and x.intent.market is t.market and not x.done:
                self._run(x, *self.style(x).on_tick(x, self.view(x.intent), t.price))

    def _intent(self, intent: OrderIntent) -> None:
        known = self.execs.get(intent.intent_id)
        if known is not None:  # redelivered while still working: say again where its orders are
            self.out.append(Count("intent_redelivered"))
            self.out += [Emit(t.last) for t in self.view(intent).of(known) if t.last is not None]
            return
        style = STYLES[intent.exec]
        reason = self._refusal(intent, style)
        self.out.append(Intake(intent.intent_id, reason))
        if reason is not None:
            self.out.append(Count(f"rejected_{reason.lower()}"))
            self._refuse(Exec(intent), Refuse(self._first(intent), intent, "main", reason), keep=False)
            return
        self.out.append(Count("intents"))
        self._run(Exec(intent), *style.start(Exec(intent), self.view(intent)))

    def _refusal(self, intent: OrderIntent, style: Style) -> str | None:
        if self.inst(intent) is None:
            return "UNKNOWN_INSTRUMENT"
        if self.ctx.kill_switch and not is_exit(intent):
            return "KILL_SWITCH"
        return style.check(intent, self.view(intent))

    def _first(self, intent: OrderIntent) -> OrderRequest:
        """The order a refused intent is reported under."""
        if self.inst(intent) is None:
            return request(intent, 0, OrderType.MARKET, intent.qty)
        return STYLES[intent.exec].first(intent, self.view(intent))

    def _slice(self, ev: SliceDue) -> None:
        s = ev.slice
        x = self.execs.get(s.intent.intent_id) or Exec(s.intent, phase="running")  # a restart: from the queue
        style = self.style(x)
        if not isinstance(style, Twap) or x.done or self.inst(s.intent) is None:
            self.out.append(Unschedule(s.intent.intent_id, s))
            return
        self._run(x, *style.on_slice(x, s, self.view(x.intent)))

    def _adopt(self, a: Adopt) -> None:
        if a.intent.intent_id in self.execs:
            self._intent(a.intent)  # known here after all: the redelivery answer
            return
        x = Exec(a.intent, phase="adopted", passive=True)
        if a.intent.exec == "twap":
            # the queue still drives the rest of a TWAP: adopt it as running, past the slices found
            k_of = {cid(a.intent, k): k for k in range(a.intent.twap_slices or 0)}
            last = max((k_of.get(s.client_order_id, -1) for s, _ in a.states), default=-1)
            x = Exec(a.intent, phase="running", last_k=last)
        guard = STYLES["guard"]
        resume = (
            a.intent.exec == "guard" and a.guard in ("ARMED", "TRIGGERED") and isinstance(guard, GuardStop)
        )
        if resume:
            assert a.guard is not None
            x = Exec(a.intent, phase=a.guard.lower(), current=cid(a.intent, "g"))
        if a.refused is not None:
            self._refuse(x, Refuse(self._first(a.intent), a.intent, "main", a.refused), keep=False)
            return
        for state, sent in a.states:
            track = _adopted_track(a.intent, state, sent)
            self.tracks[track.cid] = track
            x = replace(x, cids=(*x.cids, track.cid))
        self.execs[a.intent.intent_id] = x
        for state, _ in a.states:
            self._update(state, None)
        x = self.execs.get(a.intent.intent_id) or x
        if resume and isinstance(guard, GuardStop) and not x.done:
            self._run(x, *guard.resume(x, self.view(a.intent)))
        self._cleanup(self.execs.get(a.intent.intent_id))

    # ---- orders ----------------------------------------------------------------------------------
    def _update(self, state: OrderState, sent: Sent | None) -> None:
        track = self.tracks.get(state.client_order_id)
        if track is None:
            return  # not ours, or an order of an intent already finished (a late, stale snapshot)
        if sent is not None:
            track = replace(track, mid_at_send=sent.mid, book_at_send=sent.book, sent_ts=sent.ts)
        self._result(*observe(track, state))

    def _result(self, track: Track, result: OrderResult | None) -> None:
        self.tracks[track.cid] = track
        if result is None:
            return
        self.out.append(Emit(result))
        x = self.execs.get(track.intent.intent_id)
        if x is None:
            return
        if x.target is not None:
            cancel.on_own_result(self, x, track)
        else:
            self._run(x, *self.style(x).on_result(x, track, result, self.view(x.intent)))
        if result.status.is_final:
            cancel.on_target_result(self, track)
        self._cleanup(self.execs.get(track.intent.intent_id))

    def _run(self, x: Exec, new: Exec, effects: list[StyleEffect]) -> None:
        """Store an execution's new state and carry out what it asked for, in order."""
        key = self._key(new)
        self.execs[key] = new
        for e in effects:
            x = self.execs.get(key, new)
            if isinstance(e, Place):
                self._register_place(x, e)
            elif isinstance(e, PlaceOco):
                self._register_oco(x, e.req, e.intent)
                self.out.append(e)
            elif isinstance(e, CancelOrder):
                track = self.tracks.get(e.client_order_id)
                if track is not None:
                    self.tracks[track.cid] = replace(track, cancel_requested=True)
                self.out.append(e)
            elif isinstance(e, Refuse):
                self._refuse(x, e, keep=True)
            else:
                self.out.append(e)
        self._cleanup(self.execs.get(key))

    @staticmethod
    def _key(x: Exec) -> str:
        return x.intent.intent_id

    def _register_place(self, x: Exec, e: Place) -> None:
        book = self.book(e.intent)
        track = Track.of(e.req, e.intent, e.role, book.mid, book.top(), self.now)
        self.tracks[track.cid] = track
        self.execs[self._key(x)] = replace(x, cids=(*x.cids, track.cid))
        self.out.append(e)

    def _register_oco(self, x: Exec, req: OcoRequest, intent: OrderIntent) -> None:
        book = self.book(intent)
        cids = []
        for leg, role in zip(legs(req, intent), ("oco_tp", "oco_sl"), strict=True):
            track = Track.of(leg, intent, role, book.mid, book.top(), self.now)
            self.tracks[track.cid] = track
            cids.append(track.cid)
        self.execs[self._key(x)] = replace(x, cids=(*x.cids, *cids))

    def _refuse(self, x: Exec, e: Refuse, keep: bool) -> None:
        book = self.book(e.intent)
        track = Track.of(e.req, e.intent, e.role, book.mid, book.top(), self.now)
        if keep:
            self.execs[self._key(x)] = replace(x, cids=(*x.cids, track.cid))
            self._result(*refused(track, e.reason, self.now))
            return
        track, result = refused(track, e.reason, self.now)
        if result is not None:
            self.out.append(Emit(result))

    def _cleanup(self, x: Exec | None) -> None:
        """Forget a finished execution and its orders (a later redelivery is answered from the
        venue through the idempotency record), unless a cancel still waits on it."""
        if x is None or not x.done:
            return
        if any(c.target == x.intent.intent_id and not c.done for c in self.execs.values()):
            return
        tracks = [self.tracks[c] for c in x.cids if c in self.tracks]
        if any(t.open for t in tracks):
            return
        del self.execs[x.intent.intent_id]
        for t in tracks:
            del self.tracks[t.cid]


def _adopted_track(intent: OrderIntent, state: OrderState, sent: Sent | None) -> Track:
    return Track(
        cid=state.client_order_id,
        intent=intent,
        role=sent.role if sent else "adopted",
        side=state.side,
        type=state.type,
        time_in_force=sent.time_in_force if sent else None,
        reduce_only=state.reduce_only,
        qty=state.qty,
        price=state.price,
        stop_price=state.stop_price,
        mid_at_send=sent.mid if sent else None,
        book_at_send=sent.book if sent else None,
        sent_ts=sent.ts if sent else state.ts,
    )
