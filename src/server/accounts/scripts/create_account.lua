-- Creates an account only if the name is free: of two concurrent registrations of one name,
-- exactly one wins. ARGV = field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
