"""The one settings object. Every knob reads from env vars with the ``CHIMERA_`` prefix."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ALL_SERVICES = (
    "connectors",
    "features",
    "strategy",
    "router",
    "reconciler",
    "positions",
    "labels",
    "autopsy",
    "experiments",
    "config",
    "health",
    "gateway",
)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
TANSU_FETCH_WAIT_MS = 5  # one hop measured p50 5.8 ms / p99 9.4 ms on Tansu (DESIGN §2)
KAFKA_FETCH_WAIT_MS = 50


class Settings(BaseSettings):
    """Frozen runtime settings; build one with ``Settings()`` (env) or keyword overrides (tests)."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", frozen=True, extra="forbid")

    # where embedded state lives (chdb files, pid files, logs)
    data_dir: Path = Path(".chimera")

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:29092"
    topic_prefix: str = Field("", description="e.g. 'bt.<run_id>.' so a replay runs on its own topic set")
    topic_partitions: int = Field(4, ge=1, description="partition count shared by the trading-path topics")
    topic_replication: int = Field(1, ge=1)
    # None: the broker's own (fetch_wait_ms); Faust hard-codes 1500 ms
    consumer_fetch_wait_ms: int | None = Field(None, ge=1, le=10_000)
    # per partition and fetch; aiokafka's 1 MB is ~4 replay batches of dense trades, a round trip per 4
    consumer_max_fetch_bytes: int = Field(8 * 1024 * 1024, ge=1024 * 1024, le=256 * 1024 * 1024)

    # which services this worker runs (all in one worker for the embedded default)
    services: tuple[str, ...] = ALL_SERVICES
    worker_id: str = "chimera"
    worker_web_port: int = 6066

    # Redis: a URL for a single node, or comma-separated host:port seeds for a Redis Cluster
    redis_url: str = "redis://127.0.0.1:26379/0"
    redis_cluster_nodes: str = ""
    redis_key_prefix: str = Field("", description="e.g. 'bt.<run_id>.' so a backtest has its own keyspace")
    # how long a released/expired gate reservation is remembered, so a redelivered intent is not re-reserved
    redis_gate_tombstone_ms: int = Field(7 * 24 * 3_600_000, ge=1)

    # ClickHouse: "chdb" (embedded, in-process or via the embedded query endpoint) or "server"
    clickhouse_backend: Literal["chdb", "chdb-http", "server"] = "chdb-http"
    clickhouse_url: str = "clickhouse://default@127.0.0.1:19000/chimera"
    chdb_path: Path | None = None  # default: <data_dir>/chdb
    chdb_http_port: int = 28123
    clickhouse_database: str = "chimera"
    sink_batch_rows: int = Field(5_000, ge=1)
    sink_flush_ms: int = Field(1_000, ge=1)

    # market-data micro-batches (DESIGN §1.7): one batch per symbol per event-time window
    mkt_batch_window_ms: int = Field(100, ge=0, description="event-time window of a tick batch")
    mkt_batch_max_ticks: int = Field(256, ge=1, description="a batch closes early at this many ticks")
    mkt_replay_window_ms: int = Field(60_000, ge=0, description="batch window of `chimera replay` (1 bar)")
    # a replay runs as fast as it can: fewer, larger messages spread each consumer's per-message cost
    # (Faust's ~0.3-1 ms) over more ticks (bench/features_pipeline.py --sweep)
    mkt_replay_max_ticks: int = Field(4_096, ge=1, description="replay batches close at this many ticks")
    mkt_book_levels: int = Field(5, ge=1, description="order-book levels per side carried in a batch")

    # embedded stack ports
    tansu_port: int = 29092
    redis_port: int = 26379

    # venue
    venue: Literal["sim", "binance"] = "sim"
    binance_testnet: bool = True
    binance_api_key: SecretStr = SecretStr("")
    binance_api_secret: SecretStr = SecretStr("")

    @property
    def embedded_kafka(self) -> bool:
        """The bootstrap is the embedded Tansu (this host, ``tansu_port``), not a Kafka of its own."""
        hosts = [hp.strip().rpartition(":") for hp in self.kafka_bootstrap.split(",")]
        return all(h in LOCAL_HOSTS and p == str(self.tansu_port) for h, _, p in hosts)

    @property
    def fetch_wait_ms(self) -> int:
        """How long a consumer's fetch may wait at the broker for data: ``consumer_fetch_wait_ms``,
        else the broker's own. Tansu answers a fetch only when the wait expires, so there it is the
        latency of every hop (DESIGN §2). Kafka answers as soon as data arrives, so there the wait
        only sets how often a consumer asks about its idle partitions: at 5 ms an idle S2 worker
        (8 partitions) burned 16% of a core, at 50 ms 3%."""
        if self.consumer_fetch_wait_ms is not None:
            return self.consumer_fetch_wait_ms
        return TANSU_FETCH_WAIT_MS if self.embedded_kafka else KAFKA_FETCH_WAIT_MS

    @property
    def chdb_dir(self) -> Path:
        return self.chdb_path or self.data_dir / "chdb"

    def topic(self, name: str) -> str:
        """Return the physical topic name for a logical one (applies the prefix)."""
        return f"{self.topic_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings read from the environment."""
    return Settings()
