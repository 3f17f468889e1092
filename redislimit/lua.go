package redislimit

import "github.com/redis/go-redis/v9"

// reserve is the whole decision, atomic in Redis, in one round trip.
//
// KEYS: the slots (a list of times in microseconds of Redis's clock, in
// time order, each one unique: the slots every window counts), the
// heartbeats (a sorted set of replica ids scored by time), the epoch (a
// string: when this Redis's slots began, so that a replica sees that Redis
// lost them).
//
// ARGV: the number of windows; per window its limit and its length
// (microseconds); then, from b = 2*windows+1: b+1 the longest wait the
// caller accepts (microseconds), b+2 the replica's id, b+3 how long a
// heartbeat counts (microseconds; 0: no heartbeat this time), b+4 the latest
// slot the replica knows (0: none), b+5 the horizon (microseconds: no slot
// is booked, or taken as one, further ahead), b+6 the keys' time to live
// (milliseconds), b+7 the epoch the replica knows ("": it knows no slot),
// b+8 how many slots the windows need (the largest limit), then, when the
// replica restores what it knows, its slots (ascending).
//
// It books the earliest time after every slot, and no sooner than a
// window after the limit-th last slot of each window, unless it lies
// further than the caller accepts (then nothing is booked). Anything in
// the list that is not a time within the horizon was not written by a
// limiter: the list is rewritten without it. When the epoch differs from
// the replica's and the replica has slots to restore, or it is the same
// but the list ends before the latest slot the replica knows while a window
// still needs that slot (Redis came back from an older snapshot, or evicted
// the list), it books nothing and asks for them (status 2). It counts the replicas, the ids of the last
// span up to now (an id scored in the future does not count); with a
// heartbeat, it first records the replica's id, and renews the keys' time
// to live.
//
// It answers one string: status (1 booked, 0 not, 2 restore first), the
// wait until the slot, the slot, the replicas counted,
// Redis's time, the epoch, then, when others booked since the replica's
// latest slot, the last 32 slots as stored (the replica keeps those after
// its latest that are times within the horizon, and not its own).
var reserve = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key, rk, ek = KEYS[1], KEYS[2], KEYS[3]
local nw = tonumber(ARGV[1])
local b = 2 * nw + 1
local maxwait = tonumber(ARGV[b + 1])
local span = tonumber(ARGV[b + 3])
local seen = tonumber(ARGV[b + 4])
local horizon = tonumber(ARGV[b + 5])
local ttl = tonumber(ARGV[b + 6])
local mine = ARGV[b + 7]
local keep = tonumber(ARGV[b + 8])
local restore = #ARGV >= b + 9
local far = now + horizon
if maxwait < 0 or maxwait > horizon then maxwait = horizon end
local longest = 0
for i = 1, nw do longest = math.max(longest, tonumber(ARGV[2 * i + 1])) end

local function fmt(x) return string.format('%.0f', x) end
-- slot reads a stored value: a time no further than the horizon, or nil.
local function slot(v)
  local x = tonumber(v)
  if x == nil or x ~= x or x > far then return nil end
  return x
end
-- rewrite keeps the list's slots, and the ARGV from 'from' on, in time
-- order, once each.
local function rewrite(from)
  local xs = {}
  for _, v in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local x = slot(v)
    if x then xs[#xs + 1] = x end
  end
  if from then
    for i = from, #ARGV do
      local x = slot(ARGV[i])
      if x and x + longest >= now then xs[#xs + 1] = x end
    end
  end
  table.sort(xs)
  local out, prev = {}, nil
  for _, x in ipairs(xs) do
    if x ~= prev then out[#out + 1] = fmt(x) end
    prev = x
  end
  redis.call('DEL', key)
  for i = 1, #out, 4096 do redis.call('RPUSH', key, unpack(out, i, math.min(i + 4095, #out))) end
  if #out > 0 then redis.call('PEXPIRE', key, ttl) end
end
-- decide returns the earliest slot and the last one, or nil when a value
-- it read is not a slot.
local function decide()
  local last = 0
  local v = redis.call('LINDEX', key, -1)
  if v then
    last = slot(v)
    if not last then return nil end
  end
  local at = math.max(now, last + 1)
  for i = 1, nw do
    local w = redis.call('LINDEX', key, -tonumber(ARGV[2 * i]))
    if w then
      local x = slot(w)
      if not x then return nil end
      x = x + tonumber(ARGV[2 * i + 1])
      if x > at then at = x end
    end
  end
  return at, last
end
-- trim drops the oldest slots no window needs: beyond the last keep, those
-- older than the longest window (a slot given back must not leave a window
-- short of the ones before it).
local function trim(n)
  local lo, hi = 0, n - keep
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local x = slot(redis.call('LINDEX', key, mid)) or 0
    if x + longest < now then lo = mid + 1 else hi = mid end
  end
  if lo > 0 then redis.call('LTRIM', key, lo, -1) end
end

local epoch = redis.call('GET', ek)
if not epoch then
  epoch = fmt(now)
  redis.call('SET', ek, epoch, 'PX', ttl)
end
if restore then
  rewrite(b + 9)
elseif mine ~= '' and mine ~= epoch then
  return '2 0 0 -1 ' .. fmt(now) .. ' ' .. epoch
end
local at, last = decide()
if not at then
  rewrite(nil)
  at, last = decide()
end
if not restore and mine ~= '' and seen > last and seen <= far and seen + longest >= now then
  -- The same epoch, but the latest slot the replica knows, which a window
  -- still needs, is gone: Redis came back from an older snapshot, or
  -- evicted the list.
  return '2 0 0 -1 ' .. fmt(now) .. ' ' .. epoch
end
local booked = 0
if at - now <= maxwait then
  booked = 1
  local n = redis.call('RPUSH', key, fmt(at))
  if n == 1 then redis.call('PEXPIRE', key, ttl) end
  if n > keep + math.max(32, math.floor(keep / 16)) then trim(n) end
end
local tail = last > seen
local beat = ARGV[b + 2] ~= ''
if beat then redis.call('ZADD', rk, now, ARGV[b + 2]) end
local replicas = redis.call('ZCOUNT', rk, now - span, now)
if beat then
  redis.call('PEXPIRE', rk, math.ceil(span / 1000) + 1000)
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', ek, ttl)
  if not tail and now % 8 == 0 then
    redis.call('ZREMRANGEBYSCORE', rk, '-inf', '(' .. fmt(now - span))
    redis.call('ZREMRANGEBYSCORE', rk, '(' .. fmt(now), '+inf')
  end
end
local out = booked .. ' ' .. fmt(at - now) .. ' ' .. fmt(at) .. ' ' .. replicas .. ' ' .. fmt(now) .. ' ' .. epoch
if tail then
  -- As stored: the replica reads them as it reads any answer from Redis.
  out = out .. ' ' .. table.concat(redis.call('LRANGE', key, -32, -1), ' ')
end
return out
`)

// release gives a booked slot back. KEYS: the slots; ARGV: the slot (a
// slot is unique: one removal from the end).
var release = redis.NewScript(`
redis.call('LREM', KEYS[1], -1, ARGV[1])
return 0
`)
