-- Trading path: signals, orders, fills, positions, funding, treasury, strategy events.
-- Written for ClickHouse 18.16 and up (the oldest engine we run): timestamps are Int64 epoch ms
-- (no DateTime64 before 20.1), features are parallel arrays (no Map before 21.1).
-- Money is Decimal(38, 12): exact, 12 places (Binance uses at most 8), 26 integer digits. Not
-- (38, 18): a product's scale is the sum of scales, so price * qty of two (38, 18) columns has
-- scale 36 and 2 integer digits; 18.16 then fails with "Decimal math overflow" and chdb 26.9
-- returns a wrong number without an error (measured). With 12, price * qty and price / qty work on
-- both; a product of three needs a rescale: toDecimal128(qty * price, 8) * rate.
-- Every table is a ReplacingMergeTree on the spec's idempotency key, so a batch written twice
-- collapses: read with FINAL (or the *_latest views) for exact answers. $TABLE_SETTINGS is filled
-- in per server version (sinks/clickhouse/dialect.py).

CREATE TABLE IF NOT EXISTS signals
(
    signal_id String,
    symbol String,
    market String,
    t0 Int64,
    ts Int64,
    config_bundle_id String,
    config_rev String,
    feature_names Array(String),
    feature_values Array(Float64),
    regime String,
    decision String,
    side String,
    model_p Float64,
    reason String,
    size_mult Float64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(t0, 1000))))
ORDER BY signal_id
$TABLE_SETTINGS;

-- one row per state change of an order; the newest version is its state (see orders_latest)
CREATE TABLE IF NOT EXISTS orders
(
    client_order_id String,
    version UInt32,
    intent_id String,
    signal_id String,
    exchange_order_id String,
    symbol String,
    market String,
    side String,
    order_type String,
    time_in_force String,
    reduce_only UInt8,
    status String,
    price Decimal(38, 12),
    stop_price Decimal(38, 12),
    qty Decimal(38, 12),
    filled_qty Decimal(38, 12),
    avg_price Decimal(38, 12),
    reason String,
    ts Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(ts, 1000))))
ORDER BY (client_order_id, version)
$TABLE_SETTINGS;

CREATE VIEW IF NOT EXISTS orders_latest AS
SELECT * FROM orders FINAL
WHERE (client_order_id, version) IN (SELECT client_order_id, max(version) FROM orders GROUP BY client_order_id);

CREATE TABLE IF NOT EXISTS fills
(
    trade_id String,
    client_order_id String,
    intent_id String,
    symbol String,
    market String,
    side String,
    price Decimal(38, 12),
    qty Decimal(38, 12),
    fee Decimal(38, 12),
    fee_asset String,
    is_maker UInt8,
    mid_at_send Decimal(38, 12),
    top3_bid_px Array(Decimal(38, 12)),
    top3_bid_qty Array(Decimal(38, 12)),
    top3_ask_px Array(Decimal(38, 12)),
    top3_ask_qty Array(Decimal(38, 12)),
    slippage_bps Float64,
    ts Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(ts, 1000))))
ORDER BY (market, symbol, trade_id)
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS positions_snapshots
(
    pos_id String,
    seq UInt64,
    symbol String,
    market String,
    side String,
    status String,
    qty Decimal(38, 12),
    entry_price Decimal(38, 12),
    mark_price Decimal(38, 12),
    margin Decimal(38, 12),
    unrealized_pnl Decimal(38, 12),
    realized_pnl Decimal(38, 12),
    fees_paid Decimal(38, 12),
    funding_paid Decimal(38, 12),
    sl_price Decimal(38, 12),
    tp_level UInt8,
    adds UInt8,
    ts Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(ts, 1000))))
ORDER BY (pos_id, seq)
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS funding_records
(
    symbol String,
    funding_time Int64,
    rate Decimal(38, 12),
    position_qty Decimal(38, 12),
    mark_price Decimal(38, 12),
    amount_usdt Decimal(38, 12),
    ts Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(funding_time, 1000))))
ORDER BY (symbol, funding_time)
$TABLE_SETTINGS;

-- state machine PENDING -> APPROVED|REJECTED -> SENT -> DONE|FAILED; FINAL keeps the newest version
CREATE TABLE IF NOT EXISTS treasury_transfers
(
    transfer_id String,
    version UInt32,
    status String,
    from_account String,
    to_account String,
    asset String,
    amount Decimal(38, 12),
    reason String,
    requested_by String,
    approved_by String,
    venue_transfer_id String,
    created_ts Int64,
    ts Int64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY transfer_id
$TABLE_SETTINGS;

-- payload is JSON text: 18.16 has no JSON functions, so it is parsed by the reader, not in SQL
CREATE TABLE IF NOT EXISTS strategy_events
(
    event_id String,
    kind String,
    symbol String,
    pos_id String,
    intent_id String,
    signal_id String,
    payload String,
    ts Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(ts, 1000))))
ORDER BY event_id
$TABLE_SETTINGS;
