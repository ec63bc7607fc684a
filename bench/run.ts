// `npm run bench`: what the second factor costs per request, against a same-run baseline.
// Not part of `npm test`. Prints a table and writes .bench/bench-<time>.json and .bench/latest.json.
//
// The example app runs as its own process in Redis mode (a redis-server of the bench's own, so
// INFO commandstats counts nothing else) with the dev outbox sender, BENCH_ROUTES=1 and
// BENCH_USERS (see example-app/src/bench-routes.ts and users.ts); autocannon drives it from this
// process. The baseline and the code step run in interleaved rounds and are compared within each
// round (the median of the rounds is reported), so a machine that slows down or speeds up during
// the run moves both sides alike.
//
// Environment: BENCH_ROUNDS (default 5, after one unmeasured warm-up round), BENCH_SECONDS per timed run (default 3 in a round, twice
// that for the start step), BENCH_CONNECTIONS (default 16).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { AppProcess } from './app-process.js';
import { BENCH_PASSWORD, load, pendingLogins, plainSession, pool, post, sessionCookie, username, wrongCode, type LoadSpec, type Pending } from './http.js';
import { BenchRedis, diffCounts, freePort, type MonitorCount } from './redis-server.js';
import { formatReport, summarize, type Report, type Sample, type ScenarioReport } from './report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const USERS = 60_000;
const MONITORED_OPS = 40;
const started = Date.now();
const log = (text: string): void => { process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${text}\n`); };

/** Hands out bench users in order, each to one pending login at most, so no user's failures or budgets pile up. */
let nextUser = 1;
const takeUsers = (n: number): number[] => {
  if (nextUser + n > USERS) throw new Error(`the bench needs more than BENCH_USERS=${USERS} users`);
  const users = Array.from({ length: n }, (_, i) => nextUser + i);
  nextUser += n;
  return users;
};

/** The items of `list` in turn, round after round. */
function cycle<T>(list: T[]): () => T {
  let i = 0;
  return () => list[i++ % list.length] as T;
}

/** Each pending login once, newest first; more requests than logins show up as unexpected answers. */
const spend = (list: Pending[]) => (): { body: object; cookie?: string } => {
  const p = list.pop();
  return p === undefined ? { body: { code: '000000' } } : { body: { code: p.code }, cookie: p.cookie };
};

const ok = (status: number): boolean => status === 200;
// Four wrong codes per pending login: a fifth would end the challenge, and a user's fifth consecutive
// failure starts the backoff; both are other paths.
const codeWrong = (status: number, body: string): boolean => status === 401 && body.includes('"CODE_WRONG"');
const authenticated = (status: number, body: string): boolean => status === 200 && body.includes('"authenticated"');
const otpRequired = (status: number, body: string): boolean => status === 200 && body.includes('"otp_required"');

async function sample(app: AppProcess, redis: BenchRedis, base: string, spec: LoadSpec): Promise<Sample> {
  const before = await redis.commandCounts();
  const [appCpu, redisCpu] = [app.cpuMs(), await redis.cpuMs()];
  const result = await load(base, spec);
  // Requests still in flight at a deadline are served anyway: their commands belong here.
  await redis.settle();
  const appCpuAfter = app.cpuMs();
  return {
    result,
    commands: diffCounts(before, await redis.commandCounts()),
    appCpuMs: appCpu === undefined || appCpuAfter === undefined ? undefined : appCpuAfter - appCpu,
    redisCpuMs: (await redis.cpuMs()) - redisCpu,
  };
}

async function monitored(redis: BenchRedis, op: () => Promise<void>): Promise<MonitorCount> {
  await redis.settle();
  return redis.monitor(async () => { for (let i = 0; i < MONITORED_OPS; i++) await op(); });
}

async function httpScenarios(): Promise<{ scenarios: ScenarioReport[]; redisVersion: string }> {
  const redis = await BenchRedis.start();
  const app = new AppProcess(await freePort(), {
    REDIS_URL: redis.url,
    SESSION_SECRET: 'bench-session-secret-'.padEnd(48, 'x'),
    OTP_ENCRYPTION_KEY: 'ab'.repeat(32),
    RATE_LIMIT_PER_IP_PER_MIN: '0',
    OTP_SENDS_PER_WINDOW: '100',
    // One JSON line per event on stdout would be measured too; production ships them elsewhere.
    AUDIT_LOG: 'off',
    BENCH_USERS: String(USERS),
    BENCH_ROUTES: '1',
  });
  try {
    await app.start();
    const base = app.url;
    log(`example app (pid ${app.pid}) on ${base}, redis-server on ${redis.url}`);

    // Warm-up: every route under load once, so the JIT has seen them before anything is measured.
    const sessions = await pool(Array.from({ length: 256 }, (_, i) => i), 16, () => plainSession(base));
    const nextSession = cycle(sessions);
    const baselineSpec = (durationSeconds: number): LoadSpec => ({ path: '/bench/session', next: () => ({ body: {}, cookie: nextSession() }), expected: ok, connections: CONNECTIONS, durationSeconds });
    const warmPending = await pendingLogins(base, takeUsers(600));
    await load(base, baselineSpec(2));
    const warmWrong = cycle(warmPending.slice(0, 300));
    await load(base, { path: '/login/otp', next: () => { const p = warmWrong(); return { body: { code: wrongCode(p.code) }, cookie: p.cookie }; }, expected: () => true, connections: CONNECTIONS, amount: 900 });
    await load(base, { path: '/login/otp', next: spend(warmPending.slice(300)), expected: () => true, connections: CONNECTIONS, amount: 280 });
    const warmRegenerate = await pool(Array.from({ length: 64 }, (_, i) => i), 16, () => plainSession(base));
    await load(base, { path: '/bench/session-regenerate', next: () => ({ body: {}, cookie: warmRegenerate.shift() ?? 'none' }), onCookie: (c) => { warmRegenerate.push(c); }, expected: () => true, connections: CONNECTIONS, durationSeconds: 1 });
    // Measured once everything is warm: it sizes the fixed amounts below.
    const warmBaseline = await load(base, baselineSpec(2));
    log(`warmed up (baseline ${warmBaseline.perSecond.toFixed(0)} req/s)`);

    // The code scenarios take a fixed number of requests (each needs a pending login made
    // beforehand), sized from the warm-up so that they run for about SECONDS each.
    // Every round (the warm-up included) takes fresh users, so on a fast machine the amounts shrink to fit BENCH_USERS.
    const usersPerRound = Math.floor((USERS - 1000) / (ROUNDS + 1)) - CONNECTIONS * 3;
    const rightAmount = Math.round(Math.min(Math.max(warmBaseline.perSecond * SECONDS * 0.6, 500), 15_000, usersPerRound * 0.6));
    const wrongAmount = Math.round(Math.min(Math.max(warmBaseline.perSecond * SECONDS * 0.7, 1000), 40_000, (usersPerRound - rightAmount) * 4));
    const regenerateCookies = await pool(Array.from({ length: 128 }, (_, i) => i), 16, () => plainSession(base));
    const samples: Record<'baseline' | 'wrong' | 'right' | 'floor', Sample[]> = { baseline: [], wrong: [], right: [], floor: [] };
    // Round 0 is the same as the others but not measured: the app's JIT needs about 20 s of load
    // on two shared cores before its cost per request settles, and the first round pays for that.
    for (let round = 0; round <= ROUNDS; round++) {
      const name = round === 0 ? 'warm-up round' : `round ${round}/${ROUNDS}`;
      log(`${name}: preparing ${Math.ceil(wrongAmount / 4) + rightAmount} pending logins`);
      const wrongPending = await pendingLogins(base, takeUsers(Math.ceil((wrongAmount + CONNECTIONS * 2) / 4)));
      const rightPending = await pendingLogins(base, takeUsers(rightAmount + CONNECTIONS * 2));
      const nextWrong = cycle(wrongPending);
      // Every answer gives the session a new id (the old one is gone): its cookie goes back in the queue.
      const live = regenerateCookies.splice(0, regenerateCookies.length);
      samples.baseline.push(await sample(app, redis, base, baselineSpec(SECONDS)));
      samples.wrong.push(await sample(app, redis, base, {
        path: '/login/otp',
        next: () => { const p = nextWrong(); return { body: { code: wrongCode(p.code) }, cookie: p.cookie }; },
        expected: codeWrong,
        connections: CONNECTIONS,
        amount: wrongAmount,
      }));
      samples.right.push(await sample(app, redis, base, { path: '/login/otp', next: spend(rightPending), expected: authenticated, connections: CONNECTIONS, amount: rightAmount }));
      samples.floor.push(await sample(app, redis, base, {
        path: '/bench/session-regenerate',
        next: () => ({ body: {}, cookie: live.shift() ?? 'none' }),
        onCookie: (cookie) => { live.push(cookie); },
        expected: ok,
        connections: CONNECTIONS,
        durationSeconds: Math.max(1, SECONDS * 2 / 3),
      }));
      regenerateCookies.push(...live);
      const [b, w, r, f] = [samples.baseline, samples.wrong, samples.right, samples.floor].map((s) => s.at(-1)?.result.perSecond.toFixed(0));
      log(`${name}: baseline ${b} req/s, wrong code ${w} req/s, right code ${r} req/s, regenerate floor ${f} req/s`);
      if (round === 0) for (const list of Object.values(samples)) list.length = 0;
    }

    log('round trips (MONITOR) for the code step');
    const wrongOnce = cycle(await pendingLogins(base, takeUsers(MONITORED_OPS / 4)));
    const rightOnce = spend(await pendingLogins(base, takeUsers(MONITORED_OPS)));
    let regenerateCookie = await plainSession(base);
    const monitors = {
      baseline: await monitored(redis, async () => { await (await post(base, '/bench/session', {}, sessions[0])).arrayBuffer(); }),
      wrong: await monitored(redis, async () => { const p = wrongOnce(); await (await post(base, '/login/otp', { code: wrongCode(p.code) }, p.cookie)).arrayBuffer(); }),
      right: await monitored(redis, async () => { const { body, cookie } = rightOnce(); await (await post(base, '/login/otp', body, cookie)).arrayBuffer(); }),
      floor: await monitored(redis, async () => {
        const res = await post(base, '/bench/session-regenerate', {}, regenerateCookie);
        await res.arrayBuffer();
        regenerateCookie = sessionCookie(res);
      }),
    };

    // The start step for users spread over the whole directory: a few logins each, far inside the send budgets.
    const allUsers = Array.from({ length: USERS }, (_, i) => i + 1);
    log('start step without the password check');
    const nextUserName = cycle(allUsers);
    const startPlain = await sample(app, redis, base, { path: '/bench/login-without-password', next: () => ({ body: { username: username(nextUserName()) } }), expected: otpRequired, connections: CONNECTIONS, durationSeconds: SECONDS * 2 });
    const plainOnce = cycle(allUsers.slice(-MONITORED_OPS));
    const startPlainMonitor = await monitored(redis, async () => { await (await post(base, '/bench/login-without-password', { username: username(plainOnce()) })).arrayBuffer(); });
    log('start step with scrypt');
    const nextScryptUser = cycle(allUsers.slice().reverse());
    const startScrypt = await sample(app, redis, base, { path: '/login', next: () => ({ body: { username: username(nextScryptUser()), password: BENCH_PASSWORD } }), expected: otpRequired, connections: CONNECTIONS, durationSeconds: SECONDS * 2 });
    const scryptOnce = cycle(allUsers.slice(-2 * MONITORED_OPS, -MONITORED_OPS));
    const startScryptMonitor = await monitored(redis, async () => { await (await post(base, '/login', { username: username(scryptOnce()), password: BENCH_PASSWORD })).arrayBuffer(); });

    const scenarios = [
      summarize('baseline', 'baseline: load + save the session', samples.baseline, monitors.baseline, MONITORED_OPS, samples.baseline),
      summarize('wrong_code', 'code step, wrong code', samples.wrong, monitors.wrong, MONITORED_OPS, samples.baseline),
      summarize('right_code', 'code step, right code (fresh challenge)', samples.right, monitors.right, MONITORED_OPS, samples.baseline),
      summarize('floor_regenerate', 'floor: load + regenerate + save (as req.logIn)', samples.floor, monitors.floor, MONITORED_OPS, samples.baseline),
      summarize('start_without_password', 'start step, password check left out', [startPlain], startPlainMonitor, MONITORED_OPS, samples.baseline),
      summarize('start_with_scrypt', 'start step, scrypt password check (as shipped)', [startScrypt], startScryptMonitor, MONITORED_OPS, samples.baseline),
    ];
    for (const s of scenarios) if (s.unexpected > 0) log(`${s.title}: ${s.unexpected} unexpected answers, e.g. ${s.example}`);
    return { scenarios, redisVersion: redis.version };
  } catch (err) {
    if (app.output !== '') process.stderr.write(`example app output:\n${app.output.slice(-4000)}\n`);
    throw err;
  } finally {
    await app.stop();
    await redis.stop();
  }
}

/** bench/micro.ts in its own process, with --expose-gc. */
function micro(): Promise<Report['micro']> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/micro.ts'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench/micro.ts exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as Report['micro']);
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function main(): Promise<void> {
  const { scenarios, redisVersion } = await httpScenarios();
  log('MemoryOtpStore heap and HOTP speed');
  const report: Report = {
    at: new Date().toISOString(),
    machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', platform: `${os.platform()} ${os.release()}`, redis: redisVersion, loadAverage: os.loadavg() },
    settings: { rounds: ROUNDS, secondsPerTimedRun: SECONDS, connections: CONNECTIONS, benchUsers: USERS, monitoredOps: MONITORED_OPS },
    scenarios,
    micro: await micro(),
    elapsedSeconds: 0,
    targets: [],
  };
  report.elapsedSeconds = (Date.now() - started) / 1000;
  const text = formatReport(report);
  process.stdout.write(`${text}\n`);
  mkdirSync(`${root}.bench`, { recursive: true });
  const file = `.bench/bench-${report.at.replace(/[:.]/g, '-')}.json`;
  writeFileSync(`${root}${file}`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${root}.bench/latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nwritten: ${file} (and .bench/latest.json)\n`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});
