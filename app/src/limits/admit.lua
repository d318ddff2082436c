-- Takes units from every budget of one demand and, when asked, a slot, all or nothing:
-- a demand refused by one limit consumes none of the others. gcra.rs is the same
-- arithmetic; the clock is the server's, so instances' clocks need not agree.
--
-- KEYS: the budgets' keys, then the slots' sorted set (when ARGV asks for slots).
-- ARGV: n, then limit and units per budget, then the slots' limit (0: none), member and
--       expiry in milliseconds.
-- Returns {1, 0, 0, remaining_1, reset_ms_1, ...} when admitted, {0, i, retry_after_ms}
-- when budget i refused, {2, 0, 0} when every slot is taken.
local time = redis.call('TIME')
local now = time[1] * 1000 + time[2] / 1000
local period = 60000
local n = tonumber(ARGV[1])
local tats = {}
local reply = {1, 0, 0}
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local units = math.min(tonumber(ARGV[2 * i + 1]), limit)
  local step = period / limit
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  local new_tat = math.max(tat, now) + units * step
  local over = new_tat - now - period
  if over > 0 then
    return {0, i, math.ceil(over)}
  end
  tats[i] = new_tat
  local used = new_tat - now
  reply[#reply + 1] = math.min(limit, math.floor((period - used) / step))
  reply[#reply + 1] = math.ceil(used)
end
local slots = tonumber(ARGV[2 * n + 2])
if slots > 0 then
  local key = KEYS[n + 1]
  local expiry = tonumber(ARGV[2 * n + 4])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= slots then
    return {2, 0, 0}
  end
  redis.call('ZADD', key, now + expiry, ARGV[2 * n + 3])
  redis.call('PEXPIRE', key, expiry)
end
for i = 1, n do
  redis.call('SET', KEYS[i], string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
end
return reply
