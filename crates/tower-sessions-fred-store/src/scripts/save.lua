-- Applies what one request changed to an existing session record, and nothing else: fields it
-- did not change keep whatever concurrent requests wrote. A record that has vanished (expired,
-- signed out, revoked) is never re-created: returns 0. When asked to check, a field another
-- request changed since this one read it fails the whole save, which then writes nothing:
-- returns 2.
--
-- ARGV[1], ARGV[2] = names of the refreshed-at and absolute-deadline fields
-- ARGV[3] = new refreshed-at (ms), or '' to leave the idle deadline
-- ARGV[4] = idle timeout (ms)
-- ARGV[5] = an earlier absolute deadline (ms), or '' to keep it
-- ARGV[6] = '1' to check what each field holds, '0' to let the last writer win
-- ARGV[7] = '1' to answer a save with the whole record as it leaves it (for the near cache;
--           the read also has this connection track the key again), '0' to answer 1
-- ARGV[8..] = triples: field, its text when the request read it ('' = absent), new text
--             ('' = delete it; a stored value is JSON, never empty)
-- Every save increments the record's version, m:version (record.rs).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local refreshed_field, absolute_field = ARGV[1], ARGV[2]
local function saved()
  redis.call('HINCRBY', KEYS[1], 'm:version', 1)
  if ARGV[7] == '1' then return redis.call('HGETALL', KEYS[1]) end
  return 1
end
if ARGV[6] == '1' then
  for i = 8, #ARGV, 3 do
    if (redis.call('HGET', KEYS[1], ARGV[i]) or '') ~= ARGV[i + 1] then return 2 end
  end
end
local set, delete = {}, {}
for i = 8, #ARGV, 3 do
  if ARGV[i + 2] == '' then
    delete[#delete + 1] = ARGV[i]
  else
    set[#set + 1] = ARGV[i]
    set[#set + 1] = ARGV[i + 2]
  end
end
-- In chunks: Lua's unpack() takes only a few thousand values at once.
for i = 1, #set, 1000 do
  redis.call('HSET', KEYS[1], unpack(set, i, math.min(i + 999, #set)))
end
for i = 1, #delete, 1000 do
  redis.call('HDEL', KEYS[1], unpack(delete, i, math.min(i + 999, #delete)))
end
if ARGV[3] == '' and ARGV[5] == '' then return saved() end

local absolute = tonumber(redis.call('HGET', KEYS[1], absolute_field))
if not absolute then return 0 end
if ARGV[5] ~= '' and tonumber(ARGV[5]) < absolute then
  absolute = tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], absolute_field, ARGV[5])
end
-- Never moves the deadline back: a slower concurrent request may carry an older time.
local refreshed = tonumber(redis.call('HGET', KEYS[1], refreshed_field)) or 0
if ARGV[3] ~= '' and tonumber(ARGV[3]) > refreshed then
  refreshed = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], refreshed_field, ARGV[3])
end
redis.call('PEXPIREAT', KEYS[1], math.min(refreshed + tonumber(ARGV[4]), absolute))
return saved()
