-- Entry gate (B7): take margin budget AND a concurrency slot together, or neither.
-- KEYS: 1 budget in use (micro-USDT), 2 concurrency of the symbol, 3 reservation record,
--       4 lease index (ZSet reservation_id -> deadline ms)
-- ARGV: 1 reservation_id, 2 symbol, 3 margin micro-USDT, 4 budget limit micro-USDT,
--       5 max concurrency, 6 now ms, 7 lease ttl ms, 8 concurrency key prefix,
--       9 reservation key prefix, 10 tombstone ms, 11 reclaim batch
-- Returns {status, reason, symbol, micro}: status GRANTED | REFUSED; reason '' (new grant),
-- DUPLICATE (already held: granted again, nothing taken twice), BUDGET, CONCURRENCY,
-- RELEASED / EXPIRED (this id was already given back), CONFLICT (same id, other symbol/amount).
local now_ms = tonumber(ARGV[6])
reclaim(KEYS[1], KEYS[4], ARGV[8], ARGV[9], now_ms, ARGV[10], tonumber(ARGV[11]))

local rec = redis.call('HMGET', KEYS[3], 'state', 'symbol', 'micro')
if rec[1] then
  if rec[2] ~= ARGV[2] or rec[3] ~= ARGV[3] then
    return {'REFUSED', 'CONFLICT', rec[2], rec[3]}
  end
  if rec[1] == 'held' then
    return {'GRANTED', 'DUPLICATE', rec[2], rec[3]}
  end
  return {'REFUSED', string.upper(rec[1]), rec[2], rec[3]}
end

local micro = tonumber(ARGV[3])
local inuse = tonumber(redis.call('GET', KEYS[1]) or '0')
if inuse + micro > tonumber(ARGV[4]) then
  return {'REFUSED', 'BUDGET', ARGV[2], ARGV[3]}
end
local conc = tonumber(redis.call('GET', KEYS[2]) or '0')
if conc >= tonumber(ARGV[5]) then
  return {'REFUSED', 'CONCURRENCY', ARGV[2], ARGV[3]}
end

redis.call('INCRBY', KEYS[1], ARGV[3])
redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], 'state', 'held', 'symbol', ARGV[2], 'micro', ARGV[3])
redis.call('ZADD', KEYS[4], now_ms + tonumber(ARGV[7]), ARGV[1])
return {'GRANTED', '', ARGV[2], ARGV[3]}
