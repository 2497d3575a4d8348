-- Creates an account only if the name is free: of two concurrent registrations of one name,
-- exactly one wins. ARGV[1] = time to live (ms) until the first sign-in, '' for none; then
-- field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
