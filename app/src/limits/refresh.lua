-- Keeps this instance's slots alive: pushes the deadline of each member still in its set.
-- A slot an instance stops refreshing (it was killed) lapses at its deadline.
--
-- KEYS: one sorted set per slot. ARGV: the expiry in milliseconds, then one member per key.
local time = redis.call('TIME')
local deadline = time[1] * 1000 + time[2] / 1000 + tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', deadline, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[1]))
end
return #KEYS
