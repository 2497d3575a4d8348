-- Adds to an integer field of an existing session; nil when the session has vanished, so it is
-- never re-created as a half record. ARGV = field, amount.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
