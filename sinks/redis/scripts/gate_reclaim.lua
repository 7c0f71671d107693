-- Reclaim expired leases on demand. KEYS: 1 budget in use, 2 lease index
-- ARGV: 1 now ms, 2 concurrency key prefix, 3 reservation key prefix, 4 tombstone ms, 5 batch
return reclaim(KEYS[1], KEYS[2], ARGV[2], ARGV[3], tonumber(ARGV[1]), ARGV[4], tonumber(ARGV[5]))
