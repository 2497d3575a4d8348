-- Takes one attempt back, only from a live window (a missing key must not come back without a
-- TTL).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('DECR', KEYS[1])
