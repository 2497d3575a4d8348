-- Whether one more successful sign-in to a name fits in its window.
-- KEYS[1] = the window's count of successful sign-ins, ARGV[1] = how many a window allows
-- Returns -1 while it fits, else the ms until the window ends (at least 1).
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return -1 end
return math.max(redis.call('PTTL', KEYS[1]), 1)
