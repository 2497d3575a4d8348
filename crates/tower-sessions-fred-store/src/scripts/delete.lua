-- Deletes a session record and returns who was signed in with it (nil when nobody was, or it was
-- already gone), so its entry in the user's index can be removed whoever asked for the deletion.
-- ARGV[1] = the name of the signed-in user's field
local user = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[1])
return user
