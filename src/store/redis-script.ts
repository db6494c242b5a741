/**
 * Lua run inside Redis by RedisStore. Every script takes KEYS[1] = a key under the prefix only so
 * that Redis Cluster routes the call: all keys share the prefix's hash tag, hence one slot, and the
 * scripts build the other key names themselves from ARGV[1] (the prefix).
 *
 * Numbers (times, steps) arrive as decimal strings and are stored as those strings: Lua numbers are
 * doubles printed with 14 significant digits, so a number that went through Lua arithmetic or
 * cjson.encode could come back changed. Lua only compares them (tonumber).
 *
 * Layout ({p} = prefix):
 *   {p}n:{waba}:{id}        hash  number by id: attribute → "at|since|" + s{text}, T or F (true, false); older
 *                           versions wrote JSON [value,"at","since"], still read; meta _w waba, _i id, _d digits, _r removedAt
 *   {p}n:{waba}:d:{digits}  hash  number known only by display digits (same fields)
 *   {p}nl:{waba}            hash  digits → id
 *   {p}t:{waba}:{template}  hash  template: attributes as above; meta _w, _t id, _r
 *   {p}b:{waba}             hash  WABA (its portfolio's messaging limit): attributes as above; meta _w
 *   {p}s:{kind}:{waba}:{key} hash account state (restriction, ban, account alert, Flow, ...): attributes as
 *                           above; meta _k kind, _w, _s key. Never expires (Meta sends it once)
 *   {p}ni, {p}ti, {p}bi, {p}si set keys of the number, template, WABA and account state hashes
 *   {p}h:{waba}             string JSON {w,at,e:[[type,id,canSend]...]}; {p}hi set of those keys
 *   {p}w:{scope}            zset  customer → openedAt; {p}ws set of scopes with open waits
 *   {p}r:{scope}:{customer} string last reply time, TTL replyTtl
 *   {p}f:{funnel}:{customer} hash s step, b startedAt, l lastAt, v variant; TTL the run timeout
 *   {p}d:{key}              string de-duplication and `once` keys, TTL dedupTtl: '1' for `once`; for a
 *                           write's dedupeKey '~' + the token of the call that applied it (see APPLY_SCRIPT)
 *   {p}g:{token}            hash  a call's results until it confirms them: g give-up ms, r the call's answer,
 *                           K '\n' + the dedupeKeys of the writes it holds joined by '\n', in r's order ('' for
 *                           the others), c confirmed, x another delivery took a write over; TTL dedupTtl, once
 *                           confirmed the abandon window, deleted by the caller's next APPLY once it knows the
 *                           confirmation landed. Older versions (and a key holding a newline) kept a field
 *                           k:{dedupeKey} per write, its position in r: still read
 *   {p}v:{key}              string the value kept by `once` with a value, TTL dedupTtl
 *   {p}a:{key}              string a message that already answered (closeWait's messageKey), TTL dedupTtl
 *   {p}m:{record}           hash  the three above for keys `record#name` (RECORD_SEPARATOR in types.ts),
 *                           as fields d:{name}, v:{name}, a:{name}; TTL dedupTtl from its last new mark
 *   {p}mp:{kind}:{key}      string a record field's value too long for the hash's compact encoding
 *                           (a long kept value); the field holds a placeholder meanwhile
 *   {p}c:{series}           hash  bucket → count; {p}ct:{series} bucket → expiry (Unix seconds): a
 *                           bucket lives historyTtl after its last increment, as in MemoryStore
 * An entity hash without attributes (a tombstone, or meta only) expires after dedupTtl: by then
 * de-duplication can no longer let an older observation in.
 */

/**
 * A write script first checks its deadline (Unix ms by this server's clock; see RedisStore.fence):
 * a script that reaches a server after its caller gave up (a server frozen by a long fork or a
 * paused VM runs what it had received once it resumes) must change nothing, since the caller has
 * answered "failed" and the event will be delivered again.
 */
const LATE = `
local clock = redis.call('TIME')
if tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000 > tonumber(ARGV[2]) then return 'late' end
`;

/**
 * Marks (de-duplication, `once`, reply): a key `record#name` is field {kind}:{name} of the hash
 * {p}m:{record}, any other key the string {p}{kind}:{key}. Needs `p` (the prefix) and `dedupTtl` in
 * scope; the script calls expireRecords() before it returns.
 */
const MARKS = `
-- A record lives dedupTtl after its last new mark: one EXPIRE per record at the end of the script,
-- however many marks it got (a status sets four or five).
local renewed = {}
local function expireRecords()
  for k in pairs(renewed) do redis.call('EXPIRE', k, dedupTtl) end
end
local function markAt(kind, key)
  local at = string.find(key, '#', 1, true)
  if at then return p .. 'm:' .. string.sub(key, 1, at - 1), kind .. ':' .. string.sub(key, at + 1) end
  return p .. kind .. ':' .. key, nil
end
-- Record fields stay short, so the hash keeps Redis's compact encoding (hash-max-listpack-value):
-- a longer value waits in a key of its own, and the field holds PENDING, which no short value can equal.
local function isShort(value) return #value <= 32 end
local PENDING = '(value in {prefix}mp:{kind}:{key})'
local function sideKey(kind, key) return p .. 'mp:' .. kind .. ':' .. key end
local function getMark(kind, key)
  local k, f = markAt(kind, key)
  if not f then return redis.call('GET', k) end
  local v = redis.call('HGET', k, f)
  if v == PENDING then return redis.call('GET', sideKey(kind, key)) or '1' end
  return v
end
-- A new mark, kept dedupTtl seconds.
local function setMark(kind, key, value)
  local k, f = markAt(kind, key)
  if not f then
    redis.call('SET', k, value, 'EX', dedupTtl)
    return
  end
  if isShort(value) then
    redis.call('HSET', k, f, value)
  else
    redis.call('HSET', k, f, PENDING)
    redis.call('SET', sideKey(kind, key), value, 'EX', dedupTtl)
  end
  renewed[k] = true
end
-- True when the mark was new (and is now set). Short values only.
local function setMarkIfNew(kind, key, value)
  local k, f = markAt(kind, key)
  if f then
    if redis.call('HSETNX', k, f, value) == 0 then return false end
    renewed[k] = true
    return true
  end
  return redis.call('SET', k, value, 'NX', 'EX', dedupTtl) ~= false
end
-- Sets a new mark and returns nil, or returns the mark that is there (and leaves it). Short values only.
local function claimMark(kind, key, value)
  local k, f = markAt(kind, key)
  if f then
    if redis.call('HSETNX', k, f, value) == 1 then
      renewed[k] = true
      return nil
    end
    local v = redis.call('HGET', k, f)
    if v == PENDING then return redis.call('GET', sideKey(kind, key)) or '1' end
    return v
  end
  if redis.call('SET', k, value, 'NX', 'EX', dedupTtl) then return nil end
  return redis.call('GET', k) or '1'
end
-- A new short value for an existing mark, which keeps its expiry.
local function replaceMark(kind, key, value)
  local k, f = markAt(kind, key)
  if f then
    redis.call('HSET', k, f, value)
  else
    redis.call('SET', k, value, 'PX', redis.call('PTTL', k))
  end
end
`;

/**
 * ARGV: prefix, deadline, dedupTtlSeconds, replyTtlSeconds, historyTtlSeconds, JSON writes, token of
 * this call, give-up time (server ms), tokens of earlier calls whose confirmation their caller saw
 * land (their records can go). Returns 'late', or JSON: per write false (duplicate), the list of op
 * results, or {u = ms} (undecided, see below).
 *
 * Writes and results are positional arrays (encodeWrites and decodeResult in redis.ts), false
 * standing for an absent value: half the bytes of named fields, and cjson builds fewer tables.
 *   write [dedupeKey|false, op, op…]
 *   ['N', waba, id|false, digits|false, at|false, attributes…]  mergeNumber  → flags (see mergeInto)
 *   ['T', waba, template, at|false, attributes…]                mergeTemplate → flags
 *   ['W', waba, at|false, attributes…]                         mergeWaba → flags
 *   ['S', kind, waba, key, at|false, attributes…]               mergeState → flags
 *   ['rN', waba, id, at] / ['rT', waba, template, at]           removeNumber / removeTemplate → 1
 *   ['H', waba, JSON entities|false]                            replaceHealth → 1
 *   ['ow', scope, customer, at]                                 openWait → opened
 *   ['cw', scope, customer, at, messageKey|false]               closeWait → [closed, openedAt|false, previous reply|false]
 *   ['f', funnel, customer, step, at, timeout, variant|false, tally series|false, tally bucket|false]
 *                                                               advanceFunnel → [counted, newRun, variant|false]
 *   ['o', key, value|false]                                     once → [first, kept value|false]
 *   ['M', record, value|false, scope|false, customer|false, at|false, field…]
 *                                                               recordMarks → [first bits, kept value|false,
 *                                                               closeWait's answer|false]
 *   ['c', series, bucket, by]                                   countInBucket → 1
 * Attributes: name, value pairs sharing the op's `at`, or (at false) name, value, at triples.
 *
 * A write with a dedupeKey marks the key with this call's token, and the call's answer waits in
 * {p}g:{token} until the caller confirms (CONFIRM_SCRIPT) that it got it. An answer lost on the way
 * back (Redis killed after the write, a reply later than the caller's timeout) leaves the call
 * unconfirmed: the caller answered "failed", the event comes again, and that delivery takes the
 * write over and reports its results, so the event is counted once. A delivery that finds a write
 * its caller may still confirm (before the give-up time) is undecided and asks again after u ms.
 * One record per call, not per write, keeps confirming to one command however many writes it has.
 */
export const APPLY_SCRIPT = `${LATE}
local p = ARGV[1]
local dedupTtl = ARGV[3]
local replyTtl = ARGV[4]
local historyTtl = ARGV[5]
local writes = cjson.decode(ARGV[6])
local token = ARGV[7]
for i = 9, #ARGV do redis.call('DEL', p .. 'g:' .. ARGV[i]) end
local nowMs = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
${MARKS}
-- Entities changed (or observed again): the entity version moves once, at the end.
local entitiesMoved = false
local function isMeta(field) return string.byte(field, 1) == 95 end

-- Attribute values as stored: s + text, or T / F. Cheaper than cjson both ways.
local function encodeValue(value)
  if value == true then return 'T' elseif value == false then return 'F' end
  return 's' .. value
end
local function decodeValue(stored)
  local tag = string.byte(stored, 1)
  if tag == 84 then return true elseif tag == 70 then return false end
  return string.sub(stored, 2)
end
-- A stored attribute → encoded value, at, since (strings).
local function readAttribute(raw)
  if string.byte(raw, 1) == 91 then
    local v = cjson.decode(raw)
    return encodeValue(v[1]), v[2], v[3] or v[2]
  end
  local i = string.find(raw, '|', 1, true)
  local j = string.find(raw, '|', i + 1, true)
  return string.sub(raw, j + 1), string.sub(raw, 1, i - 1), string.sub(raw, i + 1, j - 1)
end

local function hasAttributes(key)
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if not isMeta(f) then return true end
  end
  return false
end

-- Visible entities are indexed and kept; empty ones expire (renew: a removal moved the tombstone on).
-- written: attributes were just set, so the hash has some without scanning it.
local function settle(key, index, renew, written)
  if written or hasAttributes(key) then
    redis.call('PERSIST', key)
    redis.call('SADD', index, key)
  elseif redis.call('EXISTS', key) == 1 and (renew or redis.call('TTL', key) == -1) then
    redis.call('EXPIRE', key, dedupTtl)
  end
end

-- Last-writer-wins per attribute, as merge.ts: an equal time lets the later arrival win.
-- Attributes: list[from…] as name, value pairs observed at at, or (at false) name, value, at
-- triples; sinces (a join only) the time each value was first seen. meta: field/value pairs written
-- with the attributes. Returns one flag per attribute ('c' changed, 's' stale, '.' same value),
-- how many were stale, and whether the entity already had one of them (then it is indexed and kept
-- already: see settle).
local function mergeInto(key, list, from, at, meta, sinces)
  local stride = at and 2 or 3
  local count = (#list - from + 1) / stride
  if count < 1 then return '', 0, false end
  -- One HMGET and one HSET per entity, however many attributes.
  local fields = { '_r' }
  for n = 1, count do fields[n + 1] = list[from + (n - 1) * stride] end
  local stored = redis.call('HMGET', key, unpack(fields))
  local removedAt = stored[1] and tonumber(stored[1])
  local updates = meta or {}
  local metaCount = #updates
  local had = false
  local flags = {}
  local staleCount = 0
  for n = 1, count do
    local j = from + (n - 1) * stride
    local name = list[j]
    local observedAt = at or list[j + 2]
    local atn = tonumber(observedAt)
    local raw = stored[n + 1]
    local encoded = encodeValue(list[j + 1])
    local current, currentAt, currentSince
    if raw then
      had = true
      current, currentAt, currentSince = readAttribute(raw)
    end
    if (raw and tonumber(currentAt) > atn) or (removedAt and atn <= removedAt) then
      flags[n] = 's'
      staleCount = staleCount + 1
    else
      local since = observedAt
      if not raw or current ~= encoded then
        flags[n] = 'c'
        if sinces then since = sinces[n] end
      else
        flags[n] = '.'
        since = currentSince
      end
      updates[#updates + 1] = name
      updates[#updates + 1] = observedAt .. '|' .. since .. '|' .. encoded
    end
  end
  if #updates > metaCount then
    redis.call('HSET', key, unpack(updates))
    entitiesMoved = true
  end
  return table.concat(flags), staleCount, had
end

local function removeFrom(key, at)
  local atn = tonumber(at)
  local removedAt = redis.call('HGET', key, '_r')
  if not removedAt or tonumber(removedAt) < atn then redis.call('HSET', key, '_r', at) end
  local rows = redis.call('HGETALL', key)
  for i = 1, #rows, 2 do
    if not isMeta(rows[i]) then
      local _, observedAt = readAttribute(rows[i + 1])
      if tonumber(observedAt) <= atn then redis.call('HDEL', key, rows[i]) end
    end
  end
end

local function numberMeta(key, w, id, digits)
  if id then redis.call('HSET', key, '_w', w, '_i', id) else redis.call('HSET', key, '_w', w) end
  if digits and redis.call('HGET', key, '_d') ~= digits then
    redis.call('HSET', key, '_d', digits)
    entitiesMoved = true
  end
end

local function mergeNumber(op)
  local w, id, digits, at = op[2], op[3], op[4], op[5]
  local count = (#op - 5) / (at and 2 or 3)
  local linkKey = p .. 'nl:' .. w
  if count == 0 and id and digits and redis.call('HGET', linkKey, digits) == id
    and redis.call('HGET', p .. 'n:' .. w .. ':' .. id, '_d') == digits then
    -- Only links the number's id and digits (every message names both), and they are linked.
    return ''
  end
  if not id then id = redis.call('HGET', linkKey, digits) or nil end
  local key
  local joined = false
  if id then
    key = p .. 'n:' .. w .. ':' .. id
    if digits then
      redis.call('HSET', linkKey, digits, id)
      local byDisplayKey = p .. 'n:' .. w .. ':d:' .. digits
      local rows = redis.call('HGETALL', byDisplayKey)
      if #rows > 0 then
        -- State learned before the id was known joins the id's record, newest value per attribute.
        redis.call('DEL', byDisplayKey)
        redis.call('SREM', p .. 'ni', byDisplayKey)
        local attrs, sinces = {}, {}
        for i = 1, #rows, 2 do
          if not isMeta(rows[i]) then
            local value, observedAt, since = readAttribute(rows[i + 1])
            attrs[#attrs + 1] = rows[i]
            attrs[#attrs + 1] = decodeValue(value)
            attrs[#attrs + 1] = observedAt
            sinces[#sinces + 1] = since
          end
        end
        numberMeta(key, w, id, nil)
        mergeInto(key, attrs, 1, false, nil, sinces)
        joined = #attrs > 0
      end
    end
  else
    key = p .. 'n:' .. w .. ':d:' .. digits
  end
  numberMeta(key, w, id, digits)
  local flags, staleCount, had = mergeInto(key, op, 6, at)
  if joined or not had then settle(key, p .. 'ni', false, joined or staleCount < count) end
  return flags
end

local function mergeTemplate(op)
  local w, t, at = op[2], op[3], op[4]
  local key = p .. 't:' .. w .. ':' .. t
  local flags, staleCount, had = mergeInto(key, op, 5, at, { '_w', w, '_t', t })
  if not had then settle(key, p .. 'ti', false, staleCount < (#op - 4) / (at and 2 or 3)) end
  return flags
end

local function mergeWaba(op)
  local w, at = op[2], op[3]
  local key = p .. 'b:' .. w
  local flags, staleCount, had = mergeInto(key, op, 4, at, { '_w', w })
  if not had then settle(key, p .. 'bi', false, staleCount < (#op - 3) / (at and 2 or 3)) end
  return flags
end

local function mergeState(op)
  local k, w, s, at = op[2], op[3], op[4], op[5]
  local key = p .. 's:' .. k .. ':' .. w .. ':' .. s
  local flags, staleCount, had = mergeInto(key, op, 6, at, { '_k', k, '_w', w, '_s', s })
  if not had then settle(key, p .. 'si', false, staleCount < (#op - 5) / (at and 2 or 3)) end
  return flags
end

local function addToBucket(series, bucket, by)
  local counts, expiries = p .. 'c:' .. series, p .. 'ct:' .. series
  local time = redis.call('TIME')
  local expiresAt = tonumber(time[1]) + tonumber(time[2]) / 1000000 + tonumber(historyTtl)
  redis.call('HINCRBYFLOAT', counts, bucket, by)
  redis.call('HSET', expiries, bucket, string.format('%.3f', expiresAt))
  redis.call('EXPIRE', counts, historyTtl)
  redis.call('EXPIRE', expiries, historyTtl)
end

-- Scopes this run added to {p}ws (and did not remove since): a batch opens many waits in one scope.
local listedScopes = {}
local function openWait(scope, customer, at)
  local reply = redis.call('GET', p .. 'r:' .. scope .. ':' .. customer)
  if reply and tonumber(reply) >= tonumber(at) then return false end
  -- NX: a wait already open keeps its time (0 added), as if this one had not come.
  if redis.call('ZADD', p .. 'w:' .. scope, 'NX', at, customer) == 0 then return false end
  if not listedScopes[scope] then
    redis.call('SADD', p .. 'ws', scope)
    listedScopes[scope] = true
  end
  return true
end

local function closeWait(scope, customer, at, messageKey)
  -- A message answers at most once: its later statuses must not close a newer wait.
  if messageKey and not setMarkIfNew('a', messageKey, '1') then return { false, false, false } end
  local replyKey = p .. 'r:' .. scope .. ':' .. customer
  -- A customer's first reply time is set by the command that finds none (one lookup, not two).
  local prior = redis.call('SET', replyKey, at, 'NX', 'GET', 'EX', replyTtl)
  if prior and tonumber(at) > tonumber(prior) then redis.call('SET', replyKey, at, 'EX', replyTtl) end
  local waitKey = p .. 'w:' .. scope
  local openedAt = redis.call('ZSCORE', waitKey, customer)
  if not openedAt or tonumber(openedAt) > tonumber(at) then
    return { false, false, prior }
  end
  redis.call('ZREM', waitKey, customer)
  if redis.call('EXISTS', waitKey) == 0 then
    redis.call('SREM', p .. 'ws', scope)
    listedScopes[scope] = nil
  end
  return { true, openedAt, prior }
end

-- As MemoryStore.advanceFunnel; the key's TTL stands for the run's expiry.
local function advanceFunnel(op)
  local funnel, customer, stepText, atText, variant, tallySeries, tallyBucket = op[2], op[3], op[4], op[5], op[7], op[8], op[9]
  local key = p .. 'f:' .. funnel .. ':' .. customer
  local at, step, timeout = tonumber(atText), tonumber(stepText), tonumber(op[6])
  local ttlMs = string.format('%d', math.floor(timeout * 1000))
  local stored = redis.call('HMGET', key, 's', 'b', 'l', 'v')
  local run = nil
  if stored[1] and at - tonumber(stored[3]) <= timeout then
    run = { step = tonumber(stored[1]), startedAt = tonumber(stored[2]), lastAt = tonumber(stored[3]), variant = stored[4] }
  end
  if step == 0 then
    if run and run.step == 0 and at >= run.startedAt then return { false, false, run.variant } end
    redis.call('DEL', key)
    redis.call('HSET', key, 's', '0', 'b', atText, 'l', atText)
    if variant then redis.call('HSET', key, 'v', variant) end
    redis.call('PEXPIRE', key, ttlMs)
    if tallySeries then addToBucket(tallySeries .. (variant or ''), tallyBucket, '1') end
    return { true, true, variant }
  end
  if not run or run.step >= step or at < run.startedAt then
    return { false, false, run and run.variant or false }
  end
  redis.call('HSET', key, 's', stepText)
  if at > run.lastAt then redis.call('HSET', key, 'l', atText) end
  redis.call('PEXPIRE', key, ttlMs)
  if tallySeries then addToBucket(tallySeries .. (run.variant or ''), tallyBucket, '1') end
  return { true, false, run.variant }
end

-- As MemoryStore's recordMarks (see StoreOp): the once marks of one record, the first field's kept
-- value and the reply mark, read with one HMGET and written with one HSET (the fields are distinct).
-- claim: the field of the write's de-duplication mark when it is one of this record's (a status's),
-- checked and set (to mine) with the same two commands: returns nil and the mark found, or the op's
-- answer having set it.
local function recordMarks(op, claim, mine)
  local record, value, scope = op[2], op[3], op[4]
  local k = p .. 'm:' .. record
  local n = #op - 6
  local names = {}
  for i = 1, n do names[i] = 'd:' .. op[6 + i] end
  names[n + 1] = 'v:' .. op[7]
  if scope then names[n + 2] = 'a:reply' end
  if claim then names[#names + 1] = claim end
  local got = redis.call('HMGET', k, unpack(names))
  if claim then
    local seen = got[#names]
    if seen == PENDING then return nil, redis.call('GET', sideKey('d', record .. '#' .. string.sub(claim, 3))) or '1' end
    if seen then return nil, seen end
  end
  local first, bit = 0, 1
  local updates = {}
  for i = 1, n do
    if not got[i] then
      first = first + bit
      updates[#updates + 1] = names[i]
      updates[#updates + 1] = '1'
    end
    bit = bit * 2
  end
  local kept = got[n + 1]
  if kept == PENDING then kept = redis.call('GET', sideKey('v', record .. '#' .. op[7])) or '1' end
  if not kept and value then
    kept = value
    if isShort(value) then
      updates[#updates + 1] = names[n + 1]
      updates[#updates + 1] = value
    else
      updates[#updates + 1] = names[n + 1]
      updates[#updates + 1] = PENDING
      redis.call('SET', sideKey('v', record .. '#' .. op[7]), value, 'EX', dedupTtl)
    end
  end
  local replied = scope and not got[n + 2]
  if replied then
    updates[#updates + 1] = 'a:reply'
    updates[#updates + 1] = '1'
  end
  if claim then
    updates[#updates + 1] = claim
    updates[#updates + 1] = mine
  end
  if #updates > 0 then
    redis.call('HSET', k, unpack(updates))
    renewed[k] = true
  end
  local reply = false
  if replied then reply = closeWait(scope, op[5], op[6], nil)
  elseif scope then reply = { false, false, false } end
  return { first, kept or false, reply }
end

-- The de-duplication field a write's first op can claim itself (see recordMarks), or nil: the key
-- names a field of the record that op marks, and not one of the op's own fields.
local function ownClaim(k, op)
  if not k or not op or op[1] ~= 'M' then return nil end
  local at = string.find(k, '#', 1, true)
  if not at or string.sub(k, 1, at - 1) ~= op[2] then return nil end
  local name = string.sub(k, at + 1)
  for i = 7, #op do
    if op[i] == name then return nil end
  end
  return 'd:' .. name
end

local function run(op)
  local kind = op[1]
  if kind == 'M' then return (recordMarks(op))
  elseif kind == 'o' then
    local key, value = op[2], op[3]
    local first = setMarkIfNew('d', key, '1')
    local kept = getMark('v', key)
    if not kept and value then
      setMark('v', key, value)
      kept = value
    end
    return { first, kept or false }
  elseif kind == 'T' then return mergeTemplate(op)
  elseif kind == 'S' then return mergeState(op)
  elseif kind == 'N' then return mergeNumber(op)
  elseif kind == 'W' then return mergeWaba(op)
  elseif kind == 'cw' then return closeWait(op[2], op[3], op[4], op[5])
  elseif kind == 'ow' then return openWait(op[2], op[3], op[4])
  elseif kind == 'f' then return advanceFunnel(op)
  elseif kind == 'rN' or kind == 'rT' then
    local w, id, at = op[2], op[3], op[4]
    local key, index
    if kind == 'rN' then
      key, index = p .. 'n:' .. w .. ':' .. id, p .. 'ni'
      numberMeta(key, w, id, nil)
    else
      key, index = p .. 't:' .. w .. ':' .. id, p .. 'ti'
      redis.call('HSET', key, '_w', w, '_t', id)
    end
    removeFrom(key, at)
    settle(key, index, true)
    entitiesMoved = true
    return 1
  elseif kind == 'H' then
    entitiesMoved = true
    local key = p .. 'h:' .. op[2]
    if op[3] then
      redis.call('SET', key, op[3])
      redis.call('SADD', p .. 'hi', key)
    else
      redis.call('DEL', key)
      redis.call('SREM', p .. 'hi', key)
    end
    return 1
  elseif kind == 'c' then
    addToBucket(op[2], op[3], op[4])
    return 1
  end
  error('unknown store op ' .. tostring(kind))
end

local mine = '~' .. token
-- The writes this call holds, by position in its answer: their keys go in one field K, not a field
-- each (a hundred fields per call to create, and to free when the record goes). A key K cannot
-- hold (empty, or holding a newline) gets a field k:{key} as older versions wrote.
local NL = string.char(10)
local heldKeys = {}
local holds = false
local legacy = {}
local function hold(k, i)
  holds = true
  if k == '' or string.find(k, NL, 1, true) then
    legacy[#legacy + 1] = 'k:' .. k
    legacy[#legacy + 1] = i
  else
    heldKeys[i] = k
  end
end
-- The position of key k in a record's answer, from its K field (nil when not there).
local function heldAt(keys, k)
  if not keys or k == '' or string.find(k, NL, 1, true) then return nil end
  local at = string.find(keys .. NL, NL .. k .. NL, 1, true)
  if not at then return nil end
  local _, newlines = string.gsub(string.sub(keys, 1, at), NL, '')
  return newlines
end
local out = {}
for i, w in ipairs(writes) do
  local k = w[1]
  -- The mark first (one command when it is new, none of its own when the first op claims it); a
  -- script stops only on a bug (an unknown op).
  local claim = ownClaim(k, w[2])
  local seen, results
  if claim then
    local answer
    answer, seen = recordMarks(w[2], claim, mine)
    results = { answer }
  else
    seen = k and claimMark('d', k, mine)
    results = {}
  end
  if not seen then
    for j = #results + 2, #w do results[j - 1] = run(w[j]) end
    if k then hold(k, i) end
    out[i] = results
  elseif string.byte(seen, 1) ~= 126 or seen == mine then
    -- An older version's mark ('1' or its JSON record), or the same event twice in this call.
    out[i] = false
  else
    local holder = p .. 'g:' .. string.sub(seen, 2)
    local call = redis.call('HMGET', holder, 'c', 'g', 'r', 'k:' .. k, 'K')
    local at = tonumber(call[4]) or heldAt(call[5], k)
    if call[1] or not at then
      -- Confirmed, or the record is gone (confirmed long ago): a duplicate.
      out[i] = false
    elseif tonumber(call[2]) >= nowMs then
      out[i] = { u = tonumber(call[2]) - nowMs }
    else
      -- Taken over: the mark moves to this call, so no later delivery reads that record for it again.
      out[i] = cjson.decode(call[3])[at]
      redis.call('HSET', holder, 'x', '1')
      replaceMark('d', k, mine)
      hold(k, i)
    end
  end
end
expireRecords()
-- A counter begun anew at 1 after Redis lost its data would repeat versions that readers hold, and
-- they would go on exposing the lost state: a new counter starts from the server's clock in µs.
if entitiesMoved and redis.call('INCR', p .. 'ev') == 1 then
  redis.call('SET', p .. 'ev', clock[1] .. string.format('%06d', tonumber(clock[2])))
end
local answer = cjson.encode(out)
if holds then
  local record = p .. 'g:' .. token
  if next(heldKeys) then
    for i = 1, #writes do
      if not heldKeys[i] then heldKeys[i] = '' end
    end
    redis.call('HSET', record, 'g', ARGV[8], 'r', answer, 'K', NL .. table.concat(heldKeys, NL))
  else
    redis.call('HSET', record, 'g', ARGV[8], 'r', answer)
  end
  -- unpack() stops at Lua's C-stack limit (8,000 values).
  for from = 1, #legacy, 1000 do redis.call('HSET', record, unpack(legacy, from, math.min(from + 999, #legacy))) end
  redis.call('EXPIRE', record, dedupTtl)
end
return answer
`;

/**
 * ARGV: prefix, deadline, keep seconds, tokens of one caller's APPLY calls. The caller got their
 * answers: each call's record is marked confirmed, so its writes are duplicates from now on, and
 * kept `keep` seconds in case the caller never learns that this confirmation landed (ABANDON_SCRIPT).
 * Returns 'late', or 1 when another delivery took a write of these calls over meanwhile (nothing is
 * confirmed then: that delivery reports the write, and the caller fails and hands the rest back).
 */
export const CONFIRM_SCRIPT = `${LATE}
local p = ARGV[1]
for i = 4, #ARGV do
  local call = redis.call('HMGET', p .. 'g:' .. ARGV[i], 'g', 'x')
  if not call[1] or call[2] then return 1 end
end
for i = 4, #ARGV do
  local record = p .. 'g:' .. ARGV[i]
  redis.call('HSET', record, 'c', '1')
  redis.call('EXPIRE', record, ARGV[3])
end
return 0
`;

/**
 * ARGV: prefix, dedupTtlSeconds, tokens. The caller answered "failed" for these calls although they
 * may have applied or even been confirmed: what they still hold becomes reportable by the next
 * delivery at once. Writes another delivery took over are no longer theirs.
 */
export const ABANDON_SCRIPT = `
local p = ARGV[1]
for i = 3, #ARGV do
  local record = p .. 'g:' .. ARGV[i]
  if redis.call('EXISTS', record) == 1 then
    redis.call('HSET', record, 'g', '0')
    redis.call('HDEL', record, 'c')
    redis.call('EXPIRE', record, ARGV[2])
  end
end
return 0
`;
/**
 * ARGV: prefix. Returns { numbers, templates, health, waits, wabas, states }: entity hashes as flat HGETALL rows,
 * health JSON strings, waits as {scope, count, oldest score}. Drops index entries whose key expired.
 */
export const SNAPSHOT_SCRIPT = `
local p = ARGV[1]
local function hashes(index)
  local out = {}
  for _, key in ipairs(redis.call('SMEMBERS', index)) do
    local rows = redis.call('HGETALL', key)
    if #rows == 0 then redis.call('SREM', index, key) else out[#out + 1] = rows end
  end
  return out
end
local health = {}
for _, key in ipairs(redis.call('SMEMBERS', p .. 'hi')) do
  local json = redis.call('GET', key)
  if json then health[#health + 1] = json else redis.call('SREM', p .. 'hi', key) end
end
local waits = {}
for _, scope in ipairs(redis.call('SMEMBERS', p .. 'ws')) do
  local key = p .. 'w:' .. scope
  local count = redis.call('ZCARD', key)
  if count == 0 then
    redis.call('SREM', p .. 'ws', scope)
  else
    waits[#waits + 1] = { scope, count, redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2] }
  end
end
local version = redis.call('GET', p .. 'ev') or '0'
if version == ARGV[2] then return { version, false, false, false, waits, false, false } end
return { version, hashes(p .. 'ni'), hashes(p .. 'ti'), health, waits, hashes(p .. 'bi'), hashes(p .. 'si') }
`;

/** ARGV: prefix, deadline, before (exclusive). Returns 'late' or [scope, count] for each scope that lost waits. */
export const EXPIRE_WAITS_SCRIPT = `${LATE}
local p = ARGV[1]
local out = {}
for _, scope in ipairs(redis.call('SMEMBERS', p .. 'ws')) do
  local key = p .. 'w:' .. scope
  local removed = redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[3])
  if removed > 0 then out[#out + 1] = { scope, removed } end
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', p .. 'ws', scope) end
end
return out
`;

/**
 * ARGV: prefix, from bucket, to bucket, series names. Returns per series flat [bucket, count, ...]
 * of live buckets in the range; drops the expired ones it meets.
 */
export const READ_COUNTS_SCRIPT = `
local p = ARGV[1]
local from, to = tonumber(ARGV[2]), tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local out = {}
for i = 4, #ARGV do
  local counts, expiries = p .. 'c:' .. ARGV[i], p .. 'ct:' .. ARGV[i]
  local rows = redis.call('HGETALL', counts)
  local row = {}
  for j = 1, #rows, 2 do
    local expiresAt = tonumber(redis.call('HGET', expiries, rows[j]) or '0')
    if expiresAt <= now then
      redis.call('HDEL', counts, rows[j])
      redis.call('HDEL', expiries, rows[j])
    else
      local bucket = tonumber(rows[j])
      if bucket >= from and bucket <= to then
        row[#row + 1] = rows[j]
        row[#row + 1] = rows[j + 1]
      end
    end
  end
  out[#out + 1] = row
end
return out
`;

/** The server's clock, on the node that holds the keyspace (KEYS[1]). */
export const TIME_SCRIPT = `return redis.call('TIME')`;
