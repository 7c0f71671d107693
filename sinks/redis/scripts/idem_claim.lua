-- Claim an idempotency key: the first caller stores its value (SET NX PX); later callers get the
-- stored value back. Redis 6.2 refuses SET ... NX GET, hence a script. KEYS: 1 record.
-- ARGV: 1 value, 2 ttl ms. Returns {1, value} for the first caller, {0, stored value} otherwise.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, ARGV[1]}
end
return {0, redis.call('GET', KEYS[1])}
