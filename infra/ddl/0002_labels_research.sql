-- Labels (S7), autopsies (S8), research (S9) and configuration (S10).
-- Upserts are ReplacingMergeTree(<version>): the newest version of a key wins under FINAL; a
-- re-sent batch carries the same version and collapses. Structured blobs are JSON text (no JSON
-- functions on 18.16); small metric sets are parallel name/value arrays (no Map on 18.16).

-- one table per horizon (spec names); the key (signal_id, horizon) is signal_id within a table

CREATE TABLE IF NOT EXISTS labels_12h
(
    signal_id String,
    horizon_h UInt16,
    symbol String,
    market String,
    side String,
    t0 Int64,
    t_end Int64,
    entry_price Decimal(38, 12),
    exit_price Decimal(38, 12),
    gross_pnl Decimal(38, 12),
    fees Decimal(38, 12),
    funding Decimal(38, 12),
    roi_net Decimal(38, 12),
    label Int8,
    computed_ts Int64
)
ENGINE = ReplacingMergeTree(computed_ts)
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(t0, 1000))))
ORDER BY signal_id
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS labels_24h
(
    signal_id String,
    horizon_h UInt16,
    symbol String,
    market String,
    side String,
    t0 Int64,
    t_end Int64,
    entry_price Decimal(38, 12),
    exit_price Decimal(38, 12),
    gross_pnl Decimal(38, 12),
    fees Decimal(38, 12),
    funding Decimal(38, 12),
    roi_net Decimal(38, 12),
    label Int8,
    computed_ts Int64
)
ENGINE = ReplacingMergeTree(computed_ts)
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(t0, 1000))))
ORDER BY signal_id
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS labels_36h
(
    signal_id String,
    horizon_h UInt16,
    symbol String,
    market String,
    side String,
    t0 Int64,
    t_end Int64,
    entry_price Decimal(38, 12),
    exit_price Decimal(38, 12),
    gross_pnl Decimal(38, 12),
    fees Decimal(38, 12),
    funding Decimal(38, 12),
    roi_net Decimal(38, 12),
    label Int8,
    computed_ts Int64
)
ENGINE = ReplacingMergeTree(computed_ts)
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(t0, 1000))))
ORDER BY signal_id
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS autopsy_reports
(
    trade_id String,
    pos_id String,
    symbol String,
    market String,
    roe_curve_ts Array(Int64),
    roe_curve Array(Float64),
    slippage_bps Float64,
    peer_percentile Float64,
    counterfactual String,
    narrative String,
    report_uri String,
    generated_ts Int64
)
ENGINE = ReplacingMergeTree(generated_ts)
ORDER BY trade_id
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS experiments
(
    experiment_id String,
    hypothesis_id String,
    kind String,
    params String,
    fold UInt16,
    metric_names Array(String),
    metric_values Array(Float64),
    p_value Float64,
    status String,
    ts Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY (experiment_id, fold)
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS hypotheses
(
    hypothesis_id String,
    version UInt32,
    title String,
    spec String,
    status String,
    q_value Float64,
    ts Int64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY hypothesis_id
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS config_bundles
(
    bundle_id String,
    rev String,
    parent_rev String,
    author String,
    status String,
    content String,
    lint_ok UInt8,
    lint_messages Array(String),
    ts Int64
)
ENGINE = ReplacingMergeTree(ts)
ORDER BY (bundle_id, rev)
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS simulations
(
    simulation_id String,
    bundle_id String,
    rev String,
    baseline_rev String,
    param String,
    epsilon Float64,
    metric_names Array(String),
    metric_values Array(Float64),
    baseline_values Array(Float64),
    ts Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY simulation_id
$TABLE_SETTINGS;

CREATE TABLE IF NOT EXISTS promotions
(
    promotion_id String,
    bundle_id String,
    from_rev String,
    to_rev String,
    stage String,
    ramp_pct Float64,
    actor String,
    reason String,
    ts Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY promotion_id
$TABLE_SETTINGS;

-- the active bundle per scope ('global' or a service); FINAL gives the current one
CREATE TABLE IF NOT EXISTS config_active
(
    scope String,
    version UInt64,
    bundle_id String,
    rev String,
    promotion_id String,
    ts Int64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY scope
$TABLE_SETTINGS;
