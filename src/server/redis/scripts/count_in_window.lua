-- Counts one attempt; the first one starts the window. ARGV[1] = window (ms).
-- Returns {count, remaining window in ms}.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
