-- A whole-record save from the stock SessionManagerLayer: the record's data replaces the stored
-- data (keys it no longer has are deleted), the bookkeeping stays. A record that has vanished
-- (expired, deleted) is never re-created: returns 0.
--
-- ARGV[1], ARGV[2] = names of the refreshed-at and absolute-deadline fields
-- ARGV[3] = now (ms): the new refreshed-at
-- ARGV[4] = the record's expiry date (ms): the key expires then, or at the absolute deadline if
--           that is sooner
-- ARGV[5..] = field/value pairs of the data ('d:' fields)
-- Increments the record's version, m:version (record.rs).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local keep = {}
for i = 5, #ARGV, 2 do keep[ARGV[i]] = true end
local stale = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'd:' and not keep[field] then stale[#stale + 1] = field end
end
for i = 1, #stale, 1000 do
  redis.call('HDEL', KEYS[1], unpack(stale, i, math.min(i + 999, #stale)))
end
for i = 5, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[1], 'm:version', 1)
local expires = tonumber(ARGV[4])
local absolute = tonumber(redis.call('HGET', KEYS[1], ARGV[2])) or expires
redis.call('PEXPIREAT', KEYS[1], math.min(expires, absolute))
return 1
