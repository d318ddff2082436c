-- Settles a demand once its real size is known: moves each budget by the units used
-- beyond (or short of) what was taken, never refilling past full, and frees its slot.
--
-- KEYS: the budgets' keys, then the slots' sorted set (when ARGV names a member).
-- ARGV: n, then limit and delta per budget, then the slot's member ('' for none).
local time = redis.call('TIME')
local now = time[1] * 1000 + time[2] / 1000
local n = tonumber(ARGV[1])
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local delta = tonumber(ARGV[2 * i + 1])
  if delta ~= 0 then
    local step = 60000 / limit
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    local new_tat
    if delta < 0 then
      new_tat = math.max(tat + delta * step, math.min(now, tat))
    else
      new_tat = math.max(tat, now) + delta * step
    end
    if new_tat > now then
      redis.call('SET', KEYS[i], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
local member = ARGV[2 * n + 2]
if member ~= '' then
  redis.call('ZREM', KEYS[n + 1], member)
end
return 1
