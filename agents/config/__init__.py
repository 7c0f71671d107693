"""S10, the minimal config service: bundles (strategy + feature parameters) named by ``rev``, stored in
ClickHouse, made active in ClickHouse and Redis and announced on ``cfg.events``; the read-copy-update
holder every service reads its config through (spec §A S10, B6.3, §0 "RCU 熱載")."""
