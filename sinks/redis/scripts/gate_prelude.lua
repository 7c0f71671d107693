-- Prelude of the gate scripts: give back the budget and slot of reservations whose
-- lease ran out (a holder that crashed without releasing). Keys are built from prefixes that
-- carry the same {gate} tag as the declared keys, so they live on the same Cluster slot.
local function reclaim(budget_key, leases_key, conc_prefix, resv_prefix, now_ms, tombstone_ms, batch)
  local ids = redis.call('ZRANGEBYSCORE', leases_key, '-inf', now_ms, 'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    local rkey = resv_prefix .. id
    local rec = redis.call('HMGET', rkey, 'state', 'symbol', 'micro')
    if rec[1] == 'held' then
      redis.call('DECRBY', budget_key, rec[3])
      if redis.call('DECR', conc_prefix .. rec[2]) <= 0 then
        redis.call('DEL', conc_prefix .. rec[2])
      end
      redis.call('HSET', rkey, 'state', 'expired')
      redis.call('PEXPIRE', rkey, tombstone_ms)
    end
    redis.call('ZREM', leases_key, id)
  end
  return ids
end
