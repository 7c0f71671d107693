-- Take a lock for a holder token with a TTL; the same holder taking it again refreshes the TTL.
-- KEYS: 1 lock. ARGV: 1 token, 2 ttl ms. Returns 1 if held by this token now, 0 if held by another.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
