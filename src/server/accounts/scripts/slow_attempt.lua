-- Counts an attempt at a name from any address and, past the free attempts, spaces the next ones
-- by a wait that doubles with each attempt up to a cap: guessing slows down, the owner is never
-- locked out for longer than the cap.
-- KEYS[1] = hash {n = attempts in the window, next = earliest next attempt (ms)}
-- ARGV[1] = window (ms), ARGV[2] = now (ms), ARGV[3] = free attempts, ARGV[4] = cap (ms)
-- Returns the ms to wait (0: go ahead, the attempt was counted).
local now = tonumber(ARGV[2])
local next_at = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
if now < next_at then return next_at - now end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local excess = n - tonumber(ARGV[3])
if excess > 0 then
  local wait = math.min(1000 * 2 ^ math.min(excess - 1, 30), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'next', string.format('%d', now + wait))
end
return 0
