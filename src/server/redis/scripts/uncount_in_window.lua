-- Takes one counted attempt back, only from a live window (a missing key must not come back
-- without a TTL) and never below zero (a take-back that missed its count must not buy extra
-- attempts). DECR then INCR back rather than GET: the app's minimal ACL has no GET.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('DECR', KEYS[1])
if n < 0 then return redis.call('INCR', KEYS[1]) end
return n
