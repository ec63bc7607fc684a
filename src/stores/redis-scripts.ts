import { createHash } from 'node:crypto';

// The Lua scripts of RedisOtpStore, one per step, each named for what it decides. Every script
// touches only keys under one hash tag, so each runs on one Redis Cluster slot.

// The store's clock (Redis TIME, so every instance agrees), in ms.
const CLOCK = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

// Shared Lua of the sending steps: the clock, the user lock and the rolling send budget.
const PRELUDE = `${CLOCK}
local now = clock()
local function locked_for(failures_key, lock_after)
  local f = redis.call('HMGET', failures_key, 'count', 'until')
  local until_ms = tonumber(f[2] or '0')
  if tonumber(f[1] or '0') >= lock_after and until_ms > now then return until_ms - now end
  return 0
end
local function budget_wait(key, max, window_ms)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
  if redis.call('ZCARD', key) < max then return 0 end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window_ms - now)
end
local function spend(key, send_id, window_ms)
  redis.call('ZADD', key, now, send_id)
  redis.call('PEXPIRE', key, window_ms)
end
`;

// KEYS: hotp, challenge, code, cooldown, failures, sent.
// ARGV: challenge id, send id, new sealed secret, pending ttl ms, code ttl ms, cooldown ms, lock after, budget max, budget window ms.
const ISSUE = `${PRELUDE}
local lock = locked_for(KEYS[5], tonumber(ARGV[7]))
if lock > 0 then return {'locked', lock} end
local wait = budget_wait(KEYS[6], tonumber(ARGV[8]), tonumber(ARGV[9]))
if wait > 0 then return {'over_budget', wait} end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'sealed', ARGV[3], 'counter', 0)
end
local counter = redis.call('HINCRBY', KEYS[1], 'counter', 1)
local sealed = redis.call('HGET', KEYS[1], 'sealed')
-- The user's live challenge, its armed code and its cooldown are kept aside in the new code until
-- this send goes out: if it is cancelled (the number's budget is spent, or the text surely
-- failed), CANCEL_SEND puts them back, so a refused login does not end the one in progress.
local old = redis.call('HMGET', KEYS[2], 'id', 'attempts', 'sends')
local old_ttl = redis.call('PTTL', KEYS[2])
local old_code = redis.call('HMGET', KEYS[3], 'challenge', 'counter', 'digest',
  'prev_challenge', 'prev_attempts', 'prev_sends', 'prev_challenge_until', 'prev_counter', 'prev_digest', 'prev_until', 'prev_cooldown_until')
local old_code_ttl = redis.call('PTTL', KEYS[3])
local old_cooldown = redis.call('GET', KEYS[4])
local old_cooldown_ttl = redis.call('PTTL', KEYS[4])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'attempts', 0, 'sends', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], 'challenge', ARGV[1], 'counter', counter, 'send', ARGV[2])
if old[1] and old[1] ~= ARGV[1] and old_ttl > 0 then
  -- The live code not armed yet: its send is still on its way, and this one replaces it before it
  -- was (it can never be armed now). What comes back if this send is cancelled is what that send
  -- had kept aside: a double-submitted login refused twice leaves the login before it as it was.
  local in_flight = old_code[1] == old[1] and not old_code[3]
  if in_flight and old_code[4] then
    redis.call('HSET', KEYS[3], 'prev_challenge', old_code[4], 'prev_attempts', old_code[5], 'prev_sends', old_code[6], 'prev_challenge_until', old_code[7])
    if old_code[8] then redis.call('HSET', KEYS[3], 'prev_counter', old_code[8], 'prev_digest', old_code[9], 'prev_until', old_code[10]) end
    if old_code[11] then redis.call('HSET', KEYS[3], 'prev_cooldown_until', old_code[11]) end
  elseif not (in_flight and not old_code[8] and tonumber(old[3]) <= 1) then
    redis.call('HSET', KEYS[3], 'prev_challenge', old[1], 'prev_attempts', old[2], 'prev_sends', old[3], 'prev_challenge_until', now + old_ttl)
    if old_code[1] == old[1] and old_code[3] and old_code_ttl > 0 then
      redis.call('HSET', KEYS[3], 'prev_counter', old_code[2], 'prev_digest', old_code[3], 'prev_until', now + old_code_ttl)
    elseif in_flight and old_code[8] then
      -- A resend on its way: the login comes back with the code it had before that resend.
      redis.call('HSET', KEYS[3], 'prev_counter', old_code[8], 'prev_digest', old_code[9], 'prev_until', old_code[10])
    end
    if old_cooldown == old[1] and old_cooldown_ttl > 0 then
      redis.call('HSET', KEYS[3], 'prev_cooldown_until', now + old_cooldown_ttl)
    end
  end
  -- Else the login's first text is on its way, with nothing before it: nothing to bring back.
end
redis.call('PEXPIRE', KEYS[3], ARGV[5])
if tonumber(ARGV[6]) > 0 then redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[6]) else redis.call('DEL', KEYS[4]) end
spend(KEYS[6], ARGV[2], tonumber(ARGV[9]))
return {'issued', counter, sealed}
`;

// KEYS: hotp, challenge, code, cooldown, failures, sent.
// ARGV: challenge id, send id, code ttl ms, cooldown ms, max sends, max attempts, lock after, budget max, budget window ms.
const RESEND = `${PRELUDE}
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[1] then return {'no_challenge'} end
local sealed = redis.call('HGET', KEYS[1], 'sealed')
if not sealed then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return {'no_challenge'}
end
if tonumber(redis.call('HGET', KEYS[2], 'attempts')) >= tonumber(ARGV[6]) then return {'exhausted'} end
local lock = locked_for(KEYS[5], tonumber(ARGV[7]))
if lock > 0 then return {'locked', lock} end
-- The login's last text spent: waiting does not help, so that is the answer, not the cooldown.
if tonumber(redis.call('HGET', KEYS[2], 'sends')) >= tonumber(ARGV[5]) then return {'send_limit'} end
local cooldown = redis.call('PTTL', KEYS[4])
if cooldown > 0 then return {'cooldown', cooldown} end
local wait = budget_wait(KEYS[6], tonumber(ARGV[8]), tonumber(ARGV[9]))
if wait > 0 then return {'over_budget', wait} end
redis.call('HINCRBY', KEYS[2], 'sends', 1)
local counter = redis.call('HINCRBY', KEYS[1], 'counter', 1)
-- The live code is kept aside in the new one until this send goes out: if it is cancelled (the
-- number's budget is spent, or the text surely failed), CANCEL_SEND puts the old code back.
local old = redis.call('HMGET', KEYS[3], 'challenge', 'counter', 'digest', 'prev_counter', 'prev_digest', 'prev_until', 'prev_challenge')
local old_ttl = redis.call('PTTL', KEYS[3])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'challenge', ARGV[1], 'counter', counter, 'send', ARGV[2])
if old[1] == ARGV[1] and old[3] and old_ttl > 0 then
  redis.call('HSET', KEYS[3], 'prev_counter', old[2], 'prev_digest', old[3], 'prev_until', now + old_ttl)
elseif old[1] == ARGV[1] and not old[3] and old[4] and not old[7] then
  -- The live code not armed yet: a resend still on its way, which this one replaces before it was
  -- (it can never be armed now). What comes back if this send is cancelled is the code that one
  -- kept aside: a double-clicked resend refused twice leaves the code in hand as it was. (A new
  -- login's first code, on its way, keeps another login's code aside: never this challenge's.)
  redis.call('HSET', KEYS[3], 'prev_counter', old[4], 'prev_digest', old[5], 'prev_until', old[6])
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[4]) end
spend(KEYS[6], ARGV[2], tonumber(ARGV[9]))
return {'issued', counter, sealed}
`;

// KEYS: code, hotp. ARGV: challenge id, counter, code MAC, and optionally the expected sealed secret and
// its replacement (re-sealed under the current key). Arms only the code that is still live.
const ARM = `
local code = redis.call('HMGET', KEYS[1], 'challenge', 'counter')
if code[1] ~= ARGV[1] or code[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'digest', ARGV[3])
if ARGV[5] and redis.call('HGET', KEYS[2], 'sealed') == ARGV[4] then
  redis.call('HSET', KEYS[2], 'sealed', ARGV[5])
end
return 1
`;

// KEYS: challenge, code, hotp, failures.
// ARGV: challenge id, max attempts, backoff after, lock after, lock ms, base delay ms, failure memory ms,
// then the submitted code's MACs (one per configured key, each `<key id>.<mac>`).
// Count, compare and consume in one step: the attempt is counted before the comparison, a match ends
// the challenge at once (exactly one of many concurrent right codes wins), and anything else is
// recorded as a user failure. Only MACs are compared; nobody without the key can choose their bytes,
// so a comparison's timing tells nothing about the code.
// The clock is read only when a lock or a failure needs it: a right code on an unlocked user (the
// common case) runs six commands, not seven, and no helper it does not use is defined.
const ATTEMPT = `${CLOCK}
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return {'no_challenge'} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'no_challenge'} end
local f = redis.call('HMGET', KEYS[4], 'count', 'until')
local until_ms = tonumber(f[2] or '0')
local now = nil
if until_ms > 0 then
  now = clock()
  if until_ms > now then return {'locked', until_ms - now} end
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[2]) then return {'exhausted'} end
local code = redis.call('HMGET', KEYS[2], 'challenge', 'digest')
local live = code[1] == ARGV[1]
if live and code[2] then
  local key_id = string.match(code[2], '^[^.]*%.')
  local known = key_id == nil
  for i = 8, #ARGV do
    if ARGV[i] == code[2] then
      redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
      return {'accepted', attempts}
    end
    if key_id and string.sub(ARGV[i], 1, #key_id) == key_id then known = true end
  end
  -- Armed under a key this instance does not have: a configuration error, not the user's failure.
  -- Nothing was compared (no MAC of this instance can match one under another key), so the
  -- attempt is not counted either.
  if not known then
    redis.call('HINCRBY', KEYS[1], 'attempts', -1)
    return {'unknown_key', attempts - 1}
  end
end
local failures = tonumber(f[1] or '0') + 1
local backoff_after, lock_after, lock_ms = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local delay = 0
if failures >= lock_after then delay = lock_ms
elseif failures >= backoff_after then delay = math.min(lock_ms, tonumber(ARGV[6]) * 2 ^ (failures - backoff_after)) end
if delay > 0 and not now then now = clock() end
redis.call('HSET', KEYS[4], 'count', failures, 'until', delay > 0 and (now + delay) or 0)
redis.call('PEXPIRE', KEYS[4], delay + tonumber(ARGV[7]))
if not live then return {'expired', attempts, failures} end
return {'wrong', attempts, failures}
`;

// KEYS: challenge, code, cooldown, sent. ARGV: challenge id, counter ('' for a send whose issue or
// resend never answered: its code is then known by the send id it keeps), send id.
// Withdraws the code of a send that did not go out, and gives back what the send took; what the
// send replaced is live again (each until its own expiry), as if it had never been asked for: the
// code of a resend, or the challenge, code and cooldown of the login a new one replaced.
const CANCEL_SEND = `${CLOCK}
local code = redis.call('HMGET', KEYS[2], 'challenge', 'counter', 'prev_counter', 'prev_digest', 'prev_until',
  'prev_challenge', 'prev_attempts', 'prev_sends', 'prev_challenge_until', 'prev_cooldown_until', 'send')
-- The send surely did not go out: its budget slot is given back even when its code is gone (expired,
-- or replaced by a newer send, whose code and cooldown are then left alone).
redis.call('ZREM', KEYS[4], ARGV[3])
if code[1] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  if code[11] ~= ARGV[3] then return 0 end
elseif code[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 1 end
local now = clock()
local challenge = ARGV[1]
if code[6] then
  -- A new login's send: the login it replaced comes back, if it has time left.
  local left = tonumber(code[9]) - now
  redis.call('DEL', KEYS[1])
  if left <= 0 then return 1 end
  challenge = code[6]
  redis.call('HSET', KEYS[1], 'id', challenge, 'attempts', code[7], 'sends', code[8])
  redis.call('PEXPIRE', KEYS[1], left)
  if code[10] and tonumber(code[10]) > now then redis.call('SET', KEYS[3], challenge, 'PX', tonumber(code[10]) - now) end
elseif tonumber(redis.call('HGET', KEYS[1], 'sends')) > 0 then
  redis.call('HINCRBY', KEYS[1], 'sends', -1)
end
if code[4] then
  local left = tonumber(code[5]) - now
  if left > 0 then
    redis.call('HSET', KEYS[2], 'challenge', challenge, 'counter', code[3], 'digest', code[4])
    redis.call('PEXPIRE', KEYS[2], left)
  end
end
return 1
`;

// KEYS: the phone number's sends. ARGV: send id, budget max, budget window ms.
const RESERVE_PHONE_SEND = `${PRELUDE}
local wait = budget_wait(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
if wait > 0 then return wait end
spend(KEYS[1], ARGV[1], tonumber(ARGV[3]))
return 0
`;

// KEYS: the phone number's sends. ARGV: send id.
const RELEASE_PHONE_SEND = `return redis.call('ZREM', KEYS[1], ARGV[1])`;

// KEYS: all of a user's keys. The secret and its counter share one key, so they die together.
const DELETE_USER = `return redis.call('DEL', unpack(KEYS))`;

const PING = `return 1`;

export interface Script {
  source: string;
  sha1: string;
  /**
   * A give-back (cancelSend, releasePhoneSend): still sent as EVAL after a NOSCRIPT answer that came
   * after its call timed out. Redis answers in order, so the step it gives back has run by then;
   * the give-back must run too, and a repeat changes nothing. (Any other step nobody waits for any
   * more is not run: it would count or spend something for no one.)
   */
  giveBack?: boolean;
}
const script = (source: string, giveBack = false): Script => ({ source, sha1: createHash('sha1').update(source).digest('hex'), ...(giveBack ? { giveBack } : {}) });
export const SCRIPTS = {
  issue: script(ISSUE),
  resend: script(RESEND),
  arm: script(ARM),
  attempt: script(ATTEMPT),
  cancelSend: script(CANCEL_SEND, true),
  reservePhoneSend: script(RESERVE_PHONE_SEND),
  releasePhoneSend: script(RELEASE_PHONE_SEND, true),
  deleteUser: script(DELETE_USER),
  ping: script(PING),
} as const;
