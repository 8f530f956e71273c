"""The Lua of every frame transition (alpr.frame_store runs them): what executes inside Redis.

Each script is atomic, so the one that removes a frame id from ``inflight:{camera}`` also
counts its terminal state and writes its result record (the accounting contract in
alpr.frame_store). Each comment names the script's KEYS and ARGV.
"""

PUT = """
if redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'produced', 1)
end
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""

# KEYS: queued, queue sequence; ARGV: frame id, queue list key. Marks the frame's job as
# waiting in that queue, numbered in push order (in the MULTI or pipeline of its RPUSH).
MARK = """
redis.call('HSET', KEYS[1], ARGV[1], redis.call('INCR', KEYS[2]) .. ' ' .. ARGV[2])
return 1
"""

# KEYS: frame, held, running (own), queued[, job]; ARGV: id, claim time (the running entry's
# value: how long the node has held the frame). The body moves by RENAME (no copy
# through Lua); 1: claimed now; 2: ours already (a retry after a lost reply); 3: another node
# holds it (a duplicate job: leave the frame to that node); 0: gone (or, given a job key, that
# job's hash is gone: nothing is claimed for it). claim() GETs held:{id} after it. The frame's
# job is out of its queue now: it leaves the queued set.
CLAIM = """
redis.call('HDEL', KEYS[4], ARGV[1])
if KEYS[5] and redis.call('EXISTS', KEYS[5]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PERSIST', KEYS[2])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
  return 1
end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 2 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 3 end
return 0
"""

# KEYS: inflight, counts, results, running (or ''), frame, held, queued, evidence (or '');
# ARGV: id, counter, maxlen, evidence TTL ms, evidence bytes, fields... A node's finish also
# drops the body it held.
FINISH = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then
  redis.call('HDEL', KEYS[7], ARGV[1])
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  if KEYS[8] ~= '' then
    redis.call('SET', KEYS[8], ARGV[5], 'PX', ARGV[4])
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 6))
  redis.call('DEL', KEYS[5])
end
if KEYS[4] ~= '' and redis.call('HDEL', KEYS[4], ARGV[1]) == 1 then
  redis.call('DEL', KEYS[6])
end
return removed
"""

# KEYS: inflight, counts, results, queued; ARGV: cap, frame key prefix, maxlen, now, camera, version.
# The cap counts only what it can drop: frames still waiting (frame key present). Claimed
# frames (renamed to held:) and expired ones are not counted, so once `cap` frames are
# claimed a put still keeps the newest and drops the oldest waiting one (latest wins).
DROP_OLDEST = """
local cap = tonumber(ARGV[1])
local dropped = {}
if redis.call('ZCARD', KEYS[1]) <= cap then return dropped end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local waiting = {}
for i = 1, #ids, 2 do
  if redis.call('EXISTS', ARGV[2] .. ids[i]) == 1 then waiting[#waiting + 1] = i end
end
for j = 1, #waiting - cap do
  local i = waiting[j]
  local id = ids[i]
  redis.call('DEL', ARGV[2] .. id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HINCRBY', KEYS[2], 'dropped', 1)
  local body = cmsgpack.pack({v=tonumber(ARGV[6]), id=id, cam=ARGV[5], st='dropped',
    node='', why='backpressure', ts=tonumber(ids[i + 1]), done=tonumber(ARGV[4]),
    seq=0, site='', t={}, reads={}})
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*',
    'r', body, 'camera', ARGV[5], 'status', 'dropped')
  dropped[#dropped + 1] = id
end
return dropped
"""

# KEYS: running, frame, inflight, held, queued; ARGV: id, ttl ms.
# 0: another reaper took the entry; -1: the frame is already terminal; -2: its body is gone;
# 1: the body is renamed back to the frame key, with the frame's remaining age as TTL (the
# caller enqueues its job next, which marks it queued: enqueue_requeued)
REQUEUE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) == false then
  redis.call('DEL', KEYS[4])
  return -1
end
if redis.call('EXISTS', KEYS[4]) == 0 then return -2 end
redis.call('RENAME', KEYS[4], KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[1])
return 1
"""

# KEYS: inflight, suspects, queued, running:*...; ARGV: cutoff score, frame key prefix, now,
# seconds a suspect must stay one. An orphan: in flight, frame key still there, on no node and
# its job in no queue: unmarked (a drain pop took it), or marked with a push number older than
# its queue's head (RQ's BLPOP took it: lists are FIFO), but never claimed (a worker killed
# between pop and claim, a pop whose reply a Redis crash ate). Seen twice >= ARGV[4] apart.
# No queue is read beyond its head (LINDEX 0): the cost is O(the camera's in-flight frames x
# nodes), whatever the length of the queues.
ORPHANS = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local before = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
local out = {}
if #ids == 0 then return out end
local seen = {}
for i = 1, #before, 2 do seen[before[i]] = before[i + 1] end
local heads = {}
local function head(queue)  -- push number of the queue's head; huge when empty; false: unknown
  if heads[queue] == nil then
    local jid = redis.call('LINDEX', queue, 0)
    if not jid then
      heads[queue] = math.huge
    else
      local mark = redis.call('HGET', KEYS[3], string.match(jid, '^(.+)%-r%x%x%x%x%x%x$') or jid)
      heads[queue] = mark and tonumber(string.match(mark, '^(%d+) ')) or false
    end
  end
  return heads[queue]
end
local now = tonumber(ARGV[3])
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[2] .. id) == 1 then
    local held = false
    for k = 4, #KEYS do
      if redis.call('HEXISTS', KEYS[k], id) == 1 then held = true; break end
    end
    if not held then
      local mark = redis.call('HGET', KEYS[3], id)
      local popped = true
      if mark then
        local number, queue = string.match(mark, '^(%d+) (.*)$')
        local first = head(queue)
        popped = first ~= false and tonumber(number) < first
      end
      if popped then
        local first = seen[id]
        if first and now - tonumber(first) >= tonumber(ARGV[4]) then
          out[#out + 1] = id
        else
          redis.call('HSET', KEYS[2], id, first or ARGV[3])
        end
      end
    end
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], 600000) end
return out
"""

# KEYS: inflight, counts, results, queued, running:* ...; ARGV: cutoff, frame prefix, maxlen, now, camera,
# v, job key prefix ('' = no job check), hold cutoff (a queued job older than this no longer holds)
SWEEP = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES')
local lost = {}
for i = 1, #ids, 2 do
  local id = ids[i]
  local held = redis.call('EXISTS', ARGV[2] .. id) == 1
  if (not held) and ARGV[7] ~= '' and tonumber(ids[i + 1]) > tonumber(ARGV[8]) then
    held = redis.call('EXISTS', ARGV[7] .. id) == 1
  end
  local k = 5
  while (not held) and k <= #KEYS do
    held = redis.call('HEXISTS', KEYS[k], id) == 1
    k = k + 1
  end
  if not held then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('HINCRBY', KEYS[2], 'failed:lost', 1)
    local body = cmsgpack.pack({v=tonumber(ARGV[6]), id=id, cam=ARGV[5], st='failed',
      node='', why='lost: frame vanished before any worker claimed it',
      ts=tonumber(ids[i + 1]), done=tonumber(ARGV[4]), seq=0, site='', t={}, reads={}})
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*',
      'r', body, 'camera', ARGV[5], 'status', 'failed')
    lost[#lost + 1] = id
  end
end
return lost
"""
