"""ClickHouse: the schema's migrations, one writer interface over chdb / chdb-over-HTTP / a server,
and the batching idempotent sink."""
