-- Metrics and health (S11).

-- series is the canonical label set ("k=v,k2=v2", keys sorted): arrays cannot be keys on 18.16
CREATE TABLE IF NOT EXISTS metrics_timeseries
(
    service String,
    name String,
    series String,
    value Float64,
    ts Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(ts, 1000))))
ORDER BY (service, name, series, ts)
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS strategy_metrics_daily
(
    day Date,
    strategy String,
    symbol String,
    version UInt64,
    trades UInt32,
    wins UInt32,
    pnl_usdt Decimal(38, 12),
    fees_usdt Decimal(38, 12),
    funding_usdt Decimal(38, 12),
    max_drawdown Float64,
    sharpe Float64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, strategy, symbol)
$TABLE_SETTINGS;

-- one row per alert state (open, acked, resolved); FINAL keeps the newest version
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id String,
    version UInt32,
    severity String,
    health_level String,
    source String,
    kind String,
    symbol String,
    message String,
    state String,
    ts Int64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY alert_id
$TABLE_SETTINGS;
