"""S1's market-data service: normalised feeds → time alignment → micro-batches → ``mkt.*`` topics,
S1's metrics to ``metrics.events``, and funding actually paid → ``funding_records``.

| module | job |
|---|---|
| ``align`` | per (market, symbol) monotonic event time: re-stamp slightly late ticks, drop stale ones |
| ``publish`` | the messages (topic, key, value) and which funding updates go out |
| ``metrics`` | ``s1.mkt_throughput``, ``s1.ws_rtt``, ``s1.mkt_out_of_order`` per tumbling window |
| ``core`` | the pure loop: record / timer / end of input → messages |
| ``loop`` | ``MarketDataService``: the async shell (feeds, timer, pinger, send) |
| ``ccxt_source`` | ccxt.pro watchers as feeds; the websocket ping probe |
| ``factory`` | live wiring: Binance feeds per subscription, ``run_live`` into the BulkProducer |
| ``funding_records`` | SimVenue funding payments → ``funding_records`` rows through the sink |
"""

from agents.connectors.service.core import CoreStats, MarketDataCore, Record, ServiceConfig
from agents.connectors.service.funding_records import payment_row, record_payments
from agents.connectors.service.loop import Feed, MarketDataService

__all__ = [
    "CoreStats",
    "Feed",
    "MarketDataCore",
    "MarketDataService",
    "Record",
    "ServiceConfig",
    "payment_row",
    "record_payments",
]
