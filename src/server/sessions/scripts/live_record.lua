-- Records a live session in the live-session set, and keeps the set from outgrowing what is
-- live even when nothing counts it: sessions past their deadline are trimmed on every write, and
-- the set itself expires once the longest a session can live has passed without a write.
-- KEYS[1] = the set; ARGV[1] = deadline (ms), ARGV[2] = handle, ARGV[3] = 'GT' to keep a later
-- deadline already recorded, '' to allow an earlier one; ARGV[4] = now (ms);
-- ARGV[5] = the absolute timeout (ms).
if ARGV[3] == 'GT' then
  redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
else
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
