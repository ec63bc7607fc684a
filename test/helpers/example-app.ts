import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createExampleApp, type ExampleApp } from '../../example-app/src/app.js';
import { loadConfig } from '../../example-app/src/config.js';
import { stopChild } from './process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The example app in this process, configured by environment variables as `npm start` would be. */
export async function startExampleApp(env: Record<string, string> = {}): Promise<ExampleApp> {
  return createExampleApp(loadConfig({ RATE_LIMIT_PER_IP_PER_MIN: '0', AUDIT_LOG: 'off', ...env }));
}

/**
 * The example app in Redis mode uses the package's default key prefix, so its users' failures and
 * send budgets outlive a test run: clear them (and the app's own keys) before a Redis-mode test.
 */
export async function clearExampleAppKeys(url: string): Promise<void> {
  const { createClient } = await import('redis');
  const client = createClient({ url });
  await client.connect();
  try {
    for (const pattern of ['sms-otp:{1}:*', 'sms-otp:{2}:*', 'sms-otp:{phone:*', 'example-app:*']) {
      for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 500 })) {
        if (keys.length > 0) await client.del(keys);
      }
    }
  } finally {
    await client.quit();
  }
}

/** The newest code texted to a number, read from the app's dev outbox the way a developer would. */
export function newestCode(messages: Array<{ to: string; text: string }>, to = '+4512345678'): string {
  const text = messages.filter((m) => m.to === to).at(-1)?.text;
  const code = text === undefined ? undefined : /\b(\d{6,10})\b/.exec(text)?.[1];
  if (code === undefined) throw new Error(`no code texted to ${to}`);
  return code;
}

export function csrfTokenIn(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (token === undefined) throw new Error('no CSRF token in the page');
  return token;
}

/**
 * The environment a test's app process starts from: this process's, without anything the app reads
 * as configuration. `npm test` sets REDIS_URL for the suite; inherited, it would put an app meant
 * to run in memory into Redis mode, under the app's own key prefixes in the suite's Redis.
 */
const APP_VARIABLES = /^(REDIS_|SESSION_SECRET$|OTP_|GATEWAYAPI_|SMS_SENDER$|WEBOTP_HOST$|RATE_LIMIT_|TRUST_PROXY$|AUDIT_LOG$|BENCH_|NODE_ENV$|PORT$|HOST$)/;
export const inheritedEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([name]) => !APP_VARIABLES.test(name)));

/** The example app as its own process (`tsx example-app/src/server.ts`), configured only by the `env` given, for restarts and multi-instance tests. */
export class AppProcess {
  private child: ChildProcess | undefined;
  output = '';
  constructor(readonly port: number, readonly env: Record<string, string>) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.output = '';
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    this.child = spawn(tsx, ['example-app/src/server.ts'], {
      cwd: root,
      env: { ...inheritedEnv(), HOST: '127.0.0.1', PORT: String(this.port), RATE_LIMIT_PER_IP_PER_MIN: '0', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => { this.output += d.toString(); });
    this.child.stderr?.on('data', (d: Buffer) => { this.output += d.toString(); });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`the app exited: ${this.output}`);
      const ok = await fetch(`${this.url}/healthz`).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the app did not answer /healthz within 20 s: ${this.output}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await stopChild(child);
  }

  /** Sends `signal` and resolves with the exit code once the process has ended by itself. */
  signalAndWait(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    if (child === undefined) throw new Error('the app is not running');
    return new Promise((resolve) => {
      child.once('exit', (code) => {
        this.child = undefined;
        resolve(code);
      });
      child.kill(signal);
    });
  }
}
