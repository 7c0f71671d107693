-- Give back exactly what a reservation took, once; any later release is a no-op.
-- KEYS: 1 budget in use, 2 reservation record, 3 lease index
-- ARGV: 1 reservation_id, 2 concurrency key prefix, 3 tombstone ms
-- Returns {status, symbol, micro}: RELEASED, or NOOP with the record's state ('' if unknown).
local rec = redis.call('HMGET', KEYS[2], 'state', 'symbol', 'micro')
if rec[1] ~= 'held' then
  return {'NOOP', rec[1] or '', rec[2] or '', rec[3] or '0'}
end
redis.call('DECRBY', KEYS[1], rec[3])
local ckey = ARGV[2] .. rec[2]
if redis.call('DECR', ckey) <= 0 then
  redis.call('DEL', ckey)
end
redis.call('HSET', KEYS[2], 'state', 'released')
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
return {'RELEASED', 'held', rec[2], rec[3]}
