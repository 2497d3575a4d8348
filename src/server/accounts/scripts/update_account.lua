-- Sets fields of an existing account; 0 when it does not exist (never creates half an account).
-- ARGV = field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
