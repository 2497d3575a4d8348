-- Creates a session record only if its key is new, so an id collision never overwrites another
-- session. ARGV[1] = deadline (ms since the epoch); then field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
-- In chunks of 500 pairs: Lua's unpack() takes only a few thousand values at once.
for i = 2, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
