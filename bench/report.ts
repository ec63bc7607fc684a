import type { LoadResult } from './http.js';
import type { HotpResult, MemoryStoreResult } from './micro.js';
import type { CommandCounts, MonitorCount } from './redis-server.js';

/** One timed run: autocannon's figures and the Redis commands it caused. */
export interface Sample {
  result: LoadResult;
  commands: CommandCounts;
  /** CPU the app process used during the run (undefined off Linux). */
  appCpuMs: number | undefined;
  redisCpuMs: number;
}

export interface ScenarioReport {
  key: string;
  title: string;
  /** Each run (one per round for the interleaved scenarios). */
  runs: Array<{ perSecond: number; p50Ms: number; p99Ms: number; requests: number; seconds: number }>;
  /** Medians over the runs. */
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Median over the rounds of (this run / the same round's baseline run), or against the median baseline. */
  ratioPerSecond: number;
  ratioP99: number;
  unexpected: number;
  example: string | undefined;
  errors: number;
  /** App CPU per request, µs (all runs together). */
  appCpuUsPerOp: number | undefined;
  /** Baseline app CPU per request / this one's, median over the rounds: the throughput ratio the CPU cost alone implies. */
  cpuRatio: number | undefined;
  redisCpuUsPerOp: number;
  /** All Redis commands per request from INFO commandstats deltas, those run inside scripts included. */
  redisCommandsPerOp: number;
  /** EVALSHA + EVAL per request, from INFO commandstats: the OTP store's round trips. */
  scriptCallsPerOp: number;
  commandsPerOp: Record<string, number>;
  /** Commands clients sent per request (sessions and OTP store), from a short MONITOR pass. */
  roundTripsPerOp: number;
  storeRoundTripsPerOp: number;
  clientCommandsPerOp: Record<string, number>;
}

export interface Target {
  what: string;
  target: string;
  measured: string;
  pass: boolean;
}

export interface Report {
  at: string;
  machine: { node: string; cpus: number; cpuModel: string; platform: string; redis: string; loadAverage: number[] };
  settings: { rounds: number; secondsPerTimedRun: number; connections: number; benchUsers: number; monitoredOps: number };
  scenarios: ScenarioReport[];
  micro: { memory: MemoryStoreResult; hotp: HotpResult };
  elapsedSeconds: number;
  targets: Target[];
}

export function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * One scenario's figures from its runs. Runs paired with baseline runs (same round) are compared
 * pairwise; a lone run is compared with the median baseline.
 */
export function summarize(key: string, title: string, samples: Sample[], monitor: MonitorCount, monitoredOps: number, baseline: Sample[]): ScenarioReport {
  const runs = samples.map(({ result }) => ({ perSecond: result.perSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, requests: result.requests, seconds: result.seconds }));
  const paired = samples.length === baseline.length;
  const baseRate = median(baseline.map((s) => s.result.perSecond));
  const baseP99 = median(baseline.map((s) => s.result.p99Ms));
  const ratioPerSecond = paired ? median(samples.map((s, i) => s.result.perSecond / (baseline[i] as Sample).result.perSecond)) : median(runs.map((r) => r.perSecond)) / baseRate;
  const ratioP99 = paired ? median(samples.map((s, i) => s.result.p99Ms / (baseline[i] as Sample).result.p99Ms)) : median(runs.map((r) => r.p99Ms)) / baseP99;
  const cpuPerOp = (s: Sample): number | undefined => (s.appCpuMs === undefined ? undefined : (s.appCpuMs * 1000) / s.result.sent);
  const appCpus = samples.map(cpuPerOp);
  const baseCpus = baseline.map(cpuPerOp);
  const known = (values: Array<number | undefined>): values is number[] => values.every((v) => v !== undefined);
  let cpuRatio: number | undefined;
  if (known(appCpus) && known(baseCpus)) {
    cpuRatio = paired ? median(appCpus.map((c, i) => (baseCpus[i] as number) / c)) : median(baseCpus) / median(appCpus);
  }
  const commands: CommandCounts = {};
  for (const s of samples) for (const [name, calls] of Object.entries(s.commands)) commands[name] = (commands[name] ?? 0) + calls;
  // Every request sent reached the app, which served it even if the answer came after a deadline.
  const ops = samples.reduce((sum, s) => sum + s.result.sent, 0);
  const total = Object.values(commands).reduce((a, b) => a + b, 0);
  const per = (counts: Record<string, number>, n: number): Record<string, number> => Object.fromEntries(Object.entries(counts).map(([name, calls]) => [name, calls / n]));
  return {
    key,
    title,
    runs,
    perSecond: median(runs.map((r) => r.perSecond)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    ratioPerSecond,
    ratioP99,
    unexpected: samples.reduce((sum, s) => sum + s.result.unexpected, 0),
    example: samples.find((s) => s.result.example !== undefined)?.result.example,
    errors: samples.reduce((sum, s) => sum + s.result.errors, 0),
    appCpuUsPerOp: known(appCpus) ? samples.reduce((sum, s) => sum + (s.appCpuMs as number), 0) * 1000 / ops : undefined,
    cpuRatio,
    redisCpuUsPerOp: samples.reduce((sum, s) => sum + s.redisCpuMs, 0) * 1000 / ops,
    redisCommandsPerOp: total / ops,
    scriptCallsPerOp: ((commands.evalsha ?? 0) + (commands.eval ?? 0)) / ops,
    commandsPerOp: per(commands, ops),
    roundTripsPerOp: monitor.roundTrips / monitoredOps,
    storeRoundTripsPerOp: monitor.scriptCalls / monitoredOps,
    clientCommandsPerOp: per(monitor.byCommand, monitoredOps),
  };
}

const fixed = (n: number, digits = 2): string => n.toFixed(digits);

function pad(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ').trimEnd()).join('\n');
}

/** Fills `report.targets` and returns the printout: the scenario table, then the targets with PASS/FAIL. */
export function formatReport(report: Report): string {
  const byKey = new Map(report.scenarios.map((s) => [s.key, s]));
  const rows = [['scenario', 'req/s', 'p50 ms', 'p99 ms', 'x base req/s', 'x base p99', 'app CPU us/op', 'x base (CPU)', 'redis cmds/op', 'round trips/op', 'store trips/op']];
  for (const s of report.scenarios) {
    rows.push([
      s.title, fixed(s.perSecond, 0), fixed(s.p50Ms, 1), fixed(s.p99Ms, 1), fixed(s.ratioPerSecond), fixed(s.ratioP99),
      s.appCpuUsPerOp === undefined ? '-' : fixed(s.appCpuUsPerOp, 0), s.cpuRatio === undefined ? '-' : fixed(s.cpuRatio),
      fixed(s.redisCommandsPerOp, 1), fixed(s.roundTripsPerOp, 1), fixed(s.scriptCallsPerOp, 2),
    ]);
  }

  const targets: Target[] = [];
  const add = (what: string, target: string, measured: string, pass: boolean): void => { targets.push({ what, target, measured, pass }); };
  for (const key of ['wrong_code', 'right_code']) {
    const s = byKey.get(key);
    if (s === undefined) continue;
    add(`${s.title}: throughput`, '>= 0.80x baseline', `${fixed(s.ratioPerSecond, 3)}x`, s.ratioPerSecond >= 0.8);
    add(`${s.title}: p99 latency`, '<= 1.30x baseline', `${fixed(s.ratioP99, 3)}x`, s.ratioP99 <= 1.3);
  }
  const trips: Array<[string, number]> = [['wrong_code', 1], ['right_code', 2], ['start_without_password', 3], ['start_with_scrypt', 3]];
  for (const [key, max] of trips) {
    const s = byKey.get(key);
    if (s === undefined) continue;
    const exact = key === 'wrong_code';
    const pass = exact ? Math.abs(s.scriptCallsPerOp - max) < 0.005 : s.scriptCallsPerOp <= max + 0.005;
    add(`${s.title}: OTP store round trips/op`, exact ? `= ${max}` : `<= ${max}`, fixed(s.scriptCallsPerOp, 2), pass);
  }
  const m = report.micro.memory;
  add(`MemoryOtpStore heap after ${m.challenges.toLocaleString('en')} challenges issued and expired`, 'within 10 %', `${m.diffPercent >= 0 ? '+' : ''}${fixed(m.diffPercent, 1)} %`, Math.abs(m.diffPercent) <= 10);
  const h = report.micro.hotp;
  add('HOTP code generation vs a bare node:crypto HMAC-SHA1 loop', '>= 0.50x', `${fixed(h.ratio)}x`, h.ratio >= 0.5);
  for (const s of report.scenarios) {
    if (s.unexpected > 0 || s.errors > 0) add(`${s.title}: every answer the one measured`, '0 unexpected', `${s.unexpected} unexpected, ${s.errors} errors`, false);
  }
  report.targets = targets;

  const notes: string[] = [];
  const base = byKey.get('baseline');
  if (base !== undefined && base.runs.length > 1) {
    const rates = base.runs.map((r) => r.perSecond);
    notes.push(`baseline runs: ${rates.map((r) => fixed(r, 0)).join(', ')} req/s (spread ${fixed((Math.max(...rates) - Math.min(...rates)) / median(rates) * 100, 0)} %); each code run is compared with its own round's baseline.`);
  }
  const floor = byKey.get('floor_regenerate');
  const right = byKey.get('right_code');
  if (floor !== undefined && right !== undefined) {
    notes.push(`right code vs the regenerate floor (any login step that changes the session id, as req.logIn does): ${fixed(right.perSecond / floor.perSecond)}x req/s, ${fixed(right.p99Ms / floor.p99Ms)}x p99 (not a target).`);
  }
  const mb = (bytes: number): string => `${fixed(bytes / 1048576, 1)} MB`;
  const s = report.settings;
  const lines = [
    `passport-sms-otp bench, ${report.at}: Node ${report.machine.node}, ${report.machine.cpus} CPUs (${report.machine.cpuModel}), ${report.machine.redis.split(' ').slice(0, 3).join(' ')}`,
    `${s.connections} connections; ${s.rounds} interleaved rounds of baseline / wrong code / right code / floor, ${s.secondsPerTimedRun} s each; the app, redis-server and autocannon share the machine.`,
    '',
    pad(rows),
    '',
    'req/s, p50, p99: medians over the rounds (latencies from each answer\'s own time, to a microsecond); x base: median of (run / same round\'s baseline).',
    'app CPU us/op: the app process\'s CPU time per request (/proc); x base (CPU): baseline CPU/op over this CPU/op, the',
    '  throughput ratio the app\'s own work implies; less sensitive than req/s to other load on the machine.',
    'redis cmds/op: INFO commandstats delta per request, commands run inside scripts included.',
    'round trips/op: commands clients sent per request (session store + OTP store), from MONITOR over 40 requests.',
    'store trips/op: EVALSHA + EVAL per request from INFO commandstats: the OTP store\'s round trips.',
    ...notes,
    '',
    `MemoryOtpStore: ${m.users.toLocaleString('en')} users, ${m.challenges.toLocaleString('en')} challenges: heap ${mb(m.heapBeforeBytes)} before, ${mb(m.heapPeakBytes)} at the peak, ${mb(m.heapAfterBytes)} after expiry and one sweep.`,
    `HOTP: ${fixed(h.hotpPerSecond, 0)} codes/s with hotpCode() vs ${fixed(h.hmacPerSecond, 0)} bare HMAC-SHA1/s (medians of 15 interleaved pairs).`,
    '',
    pad([['target', 'wanted', 'measured', ''], ...targets.map((t) => [t.what, t.target, t.measured, t.pass ? 'PASS' : 'FAIL'])]),
    '',
    `${targets.filter((t) => t.pass).length}/${targets.length} targets met; ${fixed(report.elapsedSeconds, 0)} s in all.`,
  ];
  return lines.join('\n');
}
