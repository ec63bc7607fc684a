import autocannon from 'autocannon';

/** The BENCH_USERS user number i: `user<i>`, phone `+452` and i padded to seven digits. */
export const username = (i: number): string => `user${i}`;
export const phoneOf = (i: number): string => `+452${String(i).padStart(7, '0')}`;
export const BENCH_PASSWORD = 'bench-password';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

export async function post(base: string, path: string, body: object, cookie?: string): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { ...JSON_HEADERS, ...(cookie ? { cookie } : {}) }, body: JSON.stringify(body) });
}

export function sessionCookie(res: Response): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sid='))?.split(';')[0];
  if (cookie === undefined) throw new Error(`no session cookie (HTTP ${res.status})`);
  return cookie;
}

/** Runs `task` over `items`, `concurrency` at a time, results in order. */
export async function pool<T, R>(items: T[], concurrency: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i] as T);
    }
  }));
  return results;
}

/** A fresh session that the baseline route has saved once. */
export async function plainSession(base: string): Promise<string> {
  const res = await post(base, '/bench/session', {});
  await res.arrayBuffer();
  return sessionCookie(res);
}

export interface Pending { user: number; cookie: string; code: string }

/**
 * Half-authenticated sessions for these users (the start step without the password check),
 * each with the code its text carried, read from the app's dev outbox.
 */
export async function pendingLogins(base: string, users: number[], concurrency = 16): Promise<Pending[]> {
  const cookies = await pool(users, concurrency, async (user) => {
    const res = await post(base, '/bench/login-without-password', { username: username(user) });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`login of ${username(user)}: HTTP ${res.status} ${body}`);
    return sessionCookie(res);
  });
  const outbox = await (await fetch(`${base}/dev/outbox`, { headers: { accept: 'application/json' } })).json() as Array<{ to: string; text: string }>;
  const newest = new Map<string, string>();
  for (const { to, text } of outbox) {
    const code = /\b(\d{6,10})\b/.exec(text)?.[1];
    if (code !== undefined) newest.set(to, code);
  }
  return users.map((user, i) => {
    const code = newest.get(phoneOf(user));
    if (code === undefined) throw new Error(`no text to ${username(user)} in the outbox`);
    return { user, cookie: cookies[i] as string, code };
  });
}

/** A code that is surely not `code`: same length, last digit moved on. */
export function wrongCode(code: string): string {
  return code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
}

/** What autocannon() returns without a callback: a promise of the result that also emits each answer. */
type AutocannonRun = PromiseLike<autocannon.Result> & {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, responseTimeMs: number) => void): unknown;
};

export interface LoadSpec {
  path: string;
  /** The body and cookie of the next request. */
  next: () => { body: object; cookie?: string };
  /** True for the answer the scenario means to measure; anything else is counted as unexpected. */
  expected: (status: number, body: string) => boolean;
  /** Sees each answer's session cookie, if it set one. */
  onCookie?: (cookie: string) => void;
  connections: number;
  amount?: number;
  durationSeconds?: number;
}

export interface LoadResult {
  /** Answers received. */
  requests: number;
  /** Requests sent, answered or not (a timed run stops with some in flight; the app still serves them). */
  sent: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  unexpected: number;
  /** One unexpected answer, for the report. */
  example: string | undefined;
  errors: number;
}

/** autocannon against one route; every request built by `spec.next()`. */
export async function load(base: string, spec: LoadSpec): Promise<LoadResult> {
  let unexpected = 0;
  let example: string | undefined;
  let lastAnswerAt = 0;
  const startedAt = performance.now();
  // Each answer's latency as autocannon measures it (process.hrtime, fractions of a ms kept):
  // its own percentiles are whole milliseconds, too coarse for a 1.3x target on a 3-4 ms p99.
  const latencies: number[] = [];
  const instance = (autocannon as unknown as (options: autocannon.Options) => AutocannonRun)({
    url: `${base}${spec.path}`,
    connections: spec.connections,
    ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.durationSeconds ?? 8 }),
    method: 'POST',
    headers: JSON_HEADERS,
    requests: [{
      method: 'POST',
      path: spec.path,
      setupRequest: (request) => {
        const { body, cookie } = spec.next();
        request.body = JSON.stringify(body);
        request.headers = { ...JSON_HEADERS, ...(cookie ? { cookie } : {}) };
        return request;
      },
      onResponse: (status, body, _context, headers) => {
        lastAnswerAt = performance.now();
        if (spec.onCookie !== undefined) {
          const name = Object.keys(headers ?? {}).find((h) => h.toLowerCase() === 'set-cookie');
          const values = ([] as string[]).concat(name === undefined ? [] : (headers as Record<string, string | string[]>)[name] ?? []);
          const cookie = values.find((c) => c.startsWith('sid='))?.split(';')[0];
          if (cookie !== undefined) spec.onCookie(cookie);
        }
        if (spec.expected(status, body)) return;
        unexpected++;
        example ??= `HTTP ${status} ${body.slice(0, 200)}`;
      },
    }],
  });
  instance.on('response', (_client, _status, _bytes, responseTimeMs) => { latencies.push(responseTimeMs); });
  const result = await instance;
  const requests = result.requests.total;
  // autocannon's duration (and finish time) is counted in whole seconds of its sampling ticks: a
  // run with a fixed amount ends at the tick after its last answer. Too coarse for a few seconds.
  const seconds = (lastAnswerAt - startedAt) / 1000;
  return {
    requests,
    sent: result.requests.sent,
    seconds,
    perSecond: requests / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    unexpected,
    example,
    errors: result.errors,
  };
}

/** The p-th percentile (nearest rank) of `values`, in their unit; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
