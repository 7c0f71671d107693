-- Push a held reservation's lease deadline to now + ttl (a position that stays open renews it).
-- KEYS: 1 reservation record, 2 lease index.  ARGV: 1 reservation_id, 2 now ms, 3 ttl ms
-- Returns 1 if renewed, 0 if the reservation is not held.
if redis.call('HGET', KEYS[1], 'state') ~= 'held' then
  return 0
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return 1
