-- Adds to an integer field of an existing session; nil when the session has vanished, so it is
-- never re-created as a half record. ARGV = field, amount, and '1' to answer {new value, the
-- whole record} (for the near cache; the read also has this connection track the key again).
-- Increments the record's version, m:version (record.rs).
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local value = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'm:version', 1)
if ARGV[3] == '1' then return {value, redis.call('HGETALL', KEYS[1])} end
return value
