import { randomBytes } from 'node:crypto';
import { BOUNDS, parseEncryptionKey, type ChallengeNumbers } from 'passport-sms-otp';

/** Everything the example app reads from its environment, checked once at start. */
export interface AppConfig {
  production: boolean;
  host: string;
  port: number;
  redisUrl: string | undefined;
  /** REDIS_CLUSTER_NODES: seed nodes of a Redis Cluster, as `redis://host:port` URLs; exclusive with `redisUrl`. */
  redisClusterNodes: string[] | undefined;
  sessionSecret: string;
  encryptionKey: Buffer;
  gatewayApi: { baseUrl: string; token: string } | { baseUrl: string; key: string; secret: string } | undefined;
  smsSender: string;
  webOtpHost: string | undefined;
  numbers: Partial<ChallengeNumbers>;
  rateLimitPerIpPerMin: number;
  /** A browser's first look at the sign-in page per IP and minute (it stores a session); 0, the default, for no limit. */
  loginPageLimitPerIpPerMin: number;
  /**
   * TRUST_PROXY: how many proxies in front of the app Express trusts for the client's address and
   * protocol (X-Forwarded-For, X-Forwarded-Proto); 1 in production, 0 otherwise.
   */
  trustProxyHops: number;
  /** AUDIT_LOG: `stdout` (default) writes the package's audit events as JSON lines; `off` does not. */
  auditLog: boolean;
  /** What was made up because it was missing (dev only), for the start-up warning. */
  generated: string[];
  /**
   * For `npm run bench` only, refused in production. BENCH_USERS: that many extra users
   * `user<i>`; BENCH_ROUTES=1: the `/bench/*` routes (session-only baselines, a start step
   * without the password check). See example-app/src/bench-routes.ts and bench/README.md.
   */
  bench: { users: number; routes: boolean };
}

/** A configuration the app refuses to start with; the message lists every problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`The example app cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const NUMBER_VARS: Array<[string, keyof ChallengeNumbers]> = [
  ['OTP_DIGITS', 'digits'],
  ['OTP_TTL_SECONDS', 'codeTtlSeconds'],
  ['OTP_MAX_ATTEMPTS', 'maxAttempts'],
  ['OTP_RESEND_COOLDOWN_SECONDS', 'resendCooldownSeconds'],
];

function wholeNumber(env: NodeJS.ProcessEnv, name: string, min: number, max: number, problems: string[]): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
    problems.push(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw.slice(0, 20))}`);
    return undefined;
  }
  return Number(raw);
}

/**
 * What is wrong with a Redis URL, or undefined. Never quotes it: it may hold a password.
 */
function redisUrlProblem(url: string): string | undefined {
  if (!/^rediss?:\/\//.test(url)) return 'must start with redis:// or rediss://';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL (redis://[user:password@]host:port[/database])';
  }
  if (parsed.hostname === '') return 'must name a host (redis://host:port)';
  if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d+$/.test(parsed.pathname)) return 'may end only with a database number (redis://host:port/0)';
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    return 'has a malformed %-escape in its user name or password';
  }
  return undefined;
}

/** Reads and checks the environment; throws {@link ConfigError} naming every problem at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const generated: string[] = [];
  const production = env.NODE_ENV === 'production';

  const port = wholeNumber(env, 'PORT', 0, 65535, problems) ?? 3000;
  const host = env.HOST || '127.0.0.1';
  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl !== undefined) {
    const problem = redisUrlProblem(redisUrl);
    if (problem !== undefined) problems.push(`REDIS_URL ${problem}`);
  }
  const redisClusterNodes = clusterNodes(env.REDIS_CLUSTER_NODES, problems);
  if (redisUrl !== undefined && redisClusterNodes !== undefined) {
    problems.push('set REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster), not both');
  }

  let sessionSecret = env.SESSION_SECRET || '';
  if (sessionSecret === '') {
    if (production) problems.push('SESSION_SECRET is required when NODE_ENV=production');
    sessionSecret = randomBytes(32).toString('hex');
    generated.push('SESSION_SECRET');
  } else if (sessionSecret.length < 32) {
    problems.push('SESSION_SECRET must be at least 32 characters');
  }

  let encryptionKey: Buffer = randomBytes(32);
  if (env.OTP_ENCRYPTION_KEY) {
    try {
      encryptionKey = parseEncryptionKey(env.OTP_ENCRYPTION_KEY, 'OTP_ENCRYPTION_KEY');
    } catch {
      problems.push('OTP_ENCRYPTION_KEY must be 32 bytes as 64 hex characters or base64');
    }
  } else {
    if (production) problems.push('OTP_ENCRYPTION_KEY is required when NODE_ENV=production');
    generated.push('OTP_ENCRYPTION_KEY');
  }

  const baseUrl = env.GATEWAYAPI_BASE_URL || 'https://gatewayapi.com';
  let gatewayApi: AppConfig['gatewayApi'];
  if (env.GATEWAYAPI_TOKEN) gatewayApi = { baseUrl, token: env.GATEWAYAPI_TOKEN };
  else if (env.GATEWAYAPI_KEY || env.GATEWAYAPI_SECRET) {
    if (!env.GATEWAYAPI_KEY || !env.GATEWAYAPI_SECRET) problems.push('GATEWAYAPI_KEY and GATEWAYAPI_SECRET go together (OAuth 1.0a); or set GATEWAYAPI_TOKEN');
    else gatewayApi = { baseUrl, key: env.GATEWAYAPI_KEY, secret: env.GATEWAYAPI_SECRET };
  }
  if (production && gatewayApi === undefined) problems.push('a real SMS sender is required when NODE_ENV=production: set GATEWAYAPI_TOKEN, or GATEWAYAPI_KEY and GATEWAYAPI_SECRET');
  // (A REDIS_CLUSTER_NODES that was given but refused is named above, not as missing.)
  if (production && redisUrl === undefined && redisClusterNodes === undefined && (env.REDIS_CLUSTER_NODES ?? '').trim() === '') {
    problems.push('REDIS_URL (or REDIS_CLUSTER_NODES) is required when NODE_ENV=production (in-memory sessions and codes do not survive a restart or a second instance)');
  }

  const numbers: Partial<ChallengeNumbers> = {};
  for (const [name, option] of NUMBER_VARS) {
    const [min, max] = BOUNDS[option];
    const value = wholeNumber(env, name, min, max, problems);
    if (value !== undefined) numbers[option] = value;
  }
  const rateLimitPerIpPerMin = wholeNumber(env, 'RATE_LIMIT_PER_IP_PER_MIN', 0, 100_000, problems) ?? 30;
  const loginPageLimitPerIpPerMin = wholeNumber(env, 'RATE_LIMIT_LOGIN_PAGE_PER_IP_PER_MIN', 0, 100_000, problems) ?? 0;
  // Production runs behind a TLS proxy (the app speaks plain HTTP and its cookies are secure).
  const trustProxyHops = wholeNumber(env, 'TRUST_PROXY', 0, 10, problems) ?? (production ? 1 : 0);
  // One budget for both: texts per user and per phone number in the rolling window (15 min by default).
  const sendsPerWindow = wholeNumber(env, 'OTP_SENDS_PER_WINDOW', ...BOUNDS.maxSendsPerUser.slice(0, 2) as [number, number], problems);
  if (sendsPerWindow !== undefined) {
    numbers.maxSendsPerUser = sendsPerWindow;
    numbers.maxSendsPerPhoneNumber = sendsPerWindow;
  }

  const bench = { users: wholeNumber(env, 'BENCH_USERS', 0, 1_000_000, problems) ?? 0, routes: env.BENCH_ROUTES === '1' };
  if (env.BENCH_ROUTES !== undefined && env.BENCH_ROUTES !== '' && env.BENCH_ROUTES !== '1' && env.BENCH_ROUTES !== '0') problems.push('BENCH_ROUTES must be "1" or "0"');
  if (production && (bench.users > 0 || bench.routes)) problems.push('BENCH_USERS and BENCH_ROUTES are for the benchmark only and are refused when NODE_ENV=production');

  const auditLog = env.AUDIT_LOG === undefined || env.AUDIT_LOG === '' || env.AUDIT_LOG === 'stdout';
  if (!auditLog && env.AUDIT_LOG !== 'off') problems.push(`AUDIT_LOG must be "stdout" or "off", got ${JSON.stringify(String(env.AUDIT_LOG).slice(0, 20))}`);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    production,
    host,
    port,
    redisUrl,
    redisClusterNodes,
    sessionSecret,
    encryptionKey,
    gatewayApi,
    smsSender: env.SMS_SENDER || 'ExampleApp',
    webOtpHost: env.WEBOTP_HOST || undefined,
    numbers,
    rateLimitPerIpPerMin,
    loginPageLimitPerIpPerMin,
    trustProxyHops,
    auditLog,
    generated,
    bench,
  };
}

/** Where sessions and codes live, for the start-up lines: memory, one Redis, or a Redis Cluster. */
export function storeDescription(config: Pick<AppConfig, 'redisUrl' | 'redisClusterNodes'>): string {
  if (config.redisClusterNodes !== undefined) {
    const seeds = config.redisClusterNodes.length;
    return `redis (a Redis Cluster, ${seeds} seed node${seeds === 1 ? '' : 's'}; sessions: connect-redis, codes: RedisOtpStore)`;
  }
  if (config.redisUrl !== undefined) return 'redis (sessions: connect-redis, codes: RedisOtpStore)';
  return 'memory (sessions and codes in this process)';
}

/**
 * True when OTP_ENCRYPTION_KEY was made up at this start (never in production): nothing sealed by
 * another run can ever be opened, so a user's stored secret that does not open may be forgotten.
 */
export function encryptionKeyIsPerStart(config: Pick<AppConfig, 'production' | 'generated'>): boolean {
  return !config.production && config.generated.includes('OTP_ENCRYPTION_KEY');
}

/**
 * The start-up warnings, one line each, about what was made up because it was missing, about
 * GatewayAPI settings given without credentials (so the dev outbox is used: a misspelled token variable?),
 * and about OAuth credentials that a token set beside them makes unused.
 */
export function startupWarnings(config: Pick<AppConfig, 'generated' | 'redisUrl' | 'redisClusterNodes'> & Partial<Pick<AppConfig, 'gatewayApi' | 'sessionSecret' | 'encryptionKey'>>, env: NodeJS.ProcessEnv = {}): string[] {
  const redisMode = config.redisUrl !== undefined || config.redisClusterNodes !== undefined;
  const unused = config.gatewayApi === undefined ? ['GATEWAYAPI_BASE_URL', 'SMS_SENDER'].filter((name) => env[name]) : [];
  const senderLines = unused.length === 0 ? [] : [`warning: ${unused.join(' and ')} ${unused.length === 1 ? 'is' : 'are'} set, but without GATEWAYAPI_TOKEN (or GATEWAYAPI_KEY and GATEWAYAPI_SECRET) texts go to the dev outbox`];
  // Both kinds of credentials: the token wins; say so, since the other pair is then never tried.
  const ignored = config.gatewayApi !== undefined && 'token' in config.gatewayApi ? ['GATEWAYAPI_KEY', 'GATEWAYAPI_SECRET'].filter((name) => env[name]) : [];
  if (ignored.length > 0) senderLines.push(`warning: GATEWAYAPI_TOKEN and ${ignored.join(' and ')} are all set; texts use the token (token auth), and ${ignored.join(' and ')} ${ignored.length === 1 ? 'is' : 'are'} ignored`);
  return [...senderLines, ...weakSecretWarnings(config), ...config.generated.map((name) => {
    const line = `warning: ${name} is not set; using a random one for this run (sessions and codes will not survive a restart)`;
    // The users' secrets do (they never expire in Redis), sealed under a key no later run has.
    return name === 'OTP_ENCRYPTION_KEY' && redisMode
      ? `${line}; in Redis mode, codes' secrets from earlier runs cannot be read and are forgotten at the user's next login (with their failures and send budget), and instances sharing this Redis must share OTP_ENCRYPTION_KEY or each forgets the others' users`
      : line;
  })];
}

/**
 * A secret of the right length that repeats a few characters (`aaaa…`, `changeme` four times, a key
 * of zero bytes) was typed, not generated: said at start, never quoted. A random value all but never
 * has so few different ones (32 hex characters: about 14 of 16; 32 random bytes: about 30).
 * A warning, not a refusal: its length was all the contract asked for.
 */
function weakSecretWarnings(config: Partial<Pick<AppConfig, 'generated' | 'sessionSecret' | 'encryptionKey'>>): string[] {
  const lines: string[] = [];
  const few = (values: Iterable<unknown>, least: number) => new Set(values).size < least;
  const advice = 'use a random value, e.g. `openssl rand -hex 32`';
  if (config.sessionSecret !== undefined && !config.generated?.includes('SESSION_SECRET') && few(config.sessionSecret, 8)) {
    lines.push(`warning: SESSION_SECRET has fewer than 8 different characters, so it is easy to guess and anyone who does can forge session cookies: ${advice}`);
  }
  if (config.encryptionKey !== undefined && !config.generated?.includes('OTP_ENCRYPTION_KEY') && few(config.encryptionKey, 16)) {
    lines.push(`warning: OTP_ENCRYPTION_KEY has fewer than 16 different bytes, so it is easy to guess and does not protect the stored secrets: ${advice}`);
  }
  return lines;
}

/**
 * REDIS_CLUSTER_NODES: a comma-separated list of seed nodes, `host:port` (IPv6 as `[::1]:7000`) or a
 * full `redis://` / `rediss://` URL when the nodes need a password or TLS. The client discovers the
 * rest of the cluster from them; give more than one, so the app can start while a seed
 * that is not a serving primary (a replica, a node being replaced) is down.
 */
function clusterNodes(raw: string | undefined, problems: string[]): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const nodes: string[] = [];
  for (const [index, entry] of raw.split(',').map((e) => e.trim()).entries()) {
    // A stray comma is refused, not skipped: `,,` alone would otherwise mean in-memory stores.
    if (entry === '') {
      problems.push(`REDIS_CLUSTER_NODES entry ${index + 1} is empty (a stray comma?); list host:port entries separated by commas`);
      return undefined;
    }
    const url = /^rediss?:\/\//.test(entry) ? entry : `redis://${entry}`;
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const port = Number(parsed?.port);
    if (parsed === undefined || parsed.hostname === '' || !Number.isInteger(port) || port < 1 || port > 65535 || (parsed.pathname !== '' && parsed.pathname !== '/')) {
      // The entry may hold a password: name its position, not its text.
      problems.push(`REDIS_CLUSTER_NODES entry ${index + 1} is not host:port (e.g. 10.0.0.1:7000,10.0.0.2:7000)`);
      return undefined;
    }
    nodes.push(url);
  }
  return nodes;
}
