"""Resolving a send whose outcome is unknown: ask the venue by client id, never send again.

Decision (DESIGN §1.8). After a timeout, a 5xx or a lost response the order may be live, filled,
or nowhere. We fetch it by client_order_id, a bounded number of times:

* found → its state is the answer (exactly one create request was sent);
* "order does not exist" (-2013) *after* the request's recvWindow (+ a clock-skew margin) has
  passed → :class:`OrderNotPlaced`. Binance's matching engine drops a request that reaches it
  later than its recvWindow, so a copy still in flight can no longer execute; the caller may
  send again with the same client_order_id. Before the window has passed a "does not exist"
  proves nothing (the request may still be queued), so we wait out the window and ask again;
* anything else (the fetches themselves time out) → :class:`OutcomeUnknown`; the reconciler
  asks again later. Binance only refuses a duplicate client id among *open* orders, so a blind
  re-send after a filled market order would trade twice — hence never re-sending here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.connectors.binance.errors import OrderNotPlaced
from agents.connectors.port import OrderNotFound, OrderState, OutcomeUnknown, VenueError
from chimera.model import Clock

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ResolvePolicy:
    attempts: int = 5
    recv_window_ms: int = 10_000  # ccxt's default recvWindow for Binance, sent with every order
    skew_margin_ms: int = 1_000
    backoff_ms: int = 500

    @property
    def conclusive_after_ms(self) -> int:
        return self.recv_window_ms + self.skew_margin_ms


async def resolve_unknown(
    fetch: Callable[[], Awaitable[OrderState]],
    client_order_id: str,
    sent_ms: int,
    clock: Clock,
    sleep: Sleep,
    policy: ResolvePolicy,
    cause: str,
) -> OrderState:
    """Return the order's state as the venue knows it, or raise OrderNotPlaced / OutcomeUnknown."""
    last = cause
    for attempt in range(policy.attempts):
        try:
            return await fetch()
        except OrderNotFound as exc:
            waited = clock.now_ms() - sent_ms
            if waited > policy.conclusive_after_ms:
                raise OrderNotPlaced(
                    f"{client_order_id}: not on the venue {waited} ms after the send "
                    f"(recvWindow {policy.recv_window_ms} ms has passed); "
                    "safe to send again with the same id",
                    exc.code,
                ) from None
            last = f"not found yet after {waited} ms"
            if attempt + 1 < policy.attempts:
                await sleep((policy.conclusive_after_ms - waited + 1) / 1000)
        except VenueError as exc:  # the fetch itself failed (timeout, 5xx, ...)
            last = str(exc)
            if attempt + 1 < policy.attempts:
                await sleep(policy.backoff_ms * (attempt + 1) / 1000)
    raise OutcomeUnknown(
        f"{client_order_id}: send outcome still unknown after {policy.attempts} fetches ({last}); "
        "not re-sent",
        "unresolved",
    )
