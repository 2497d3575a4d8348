-- Counts one attempt unless the window already holds ARGV[2] of them; the first one starts the
-- window. Checking and counting in one step: a burst of concurrent attempts cannot all pass a
-- limit that only the first few were under. (INCR then DECR rather than GET: the app's minimal
-- ACL has no GET.)
-- ARGV[1] = window (ms), ARGV[2] = limit. Returns {1 counted | 0 refused, remaining window in ms}.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then
  redis.call('DECR', KEYS[1])
  return {0, redis.call('PTTL', KEYS[1])}
end
return {1, redis.call('PTTL', KEYS[1])}
