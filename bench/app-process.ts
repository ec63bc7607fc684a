import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../test/helpers/process.js';

// USER_HZ: 100 on every Linux that Node supports.
const CLOCK_TICKS_PER_SECOND = 100;

const root = fileURLToPath(new URL('..', import.meta.url));

/** The example app as its own process (`node --import tsx example-app/src/server.ts`), as `npm start` runs it. */
export class AppProcess {
  private child: ChildProcess | undefined;
  output = '';
  constructor(readonly port: number, readonly env: Record<string, string>, readonly nodeArgs: string[] = []) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    this.child = spawn(process.execPath, [...this.nodeArgs, '--import', 'tsx', 'example-app/src/server.ts'], {
      cwd: root,
      env: { ...process.env, NODE_ENV: 'development', HOST: '127.0.0.1', PORT: String(this.port), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => { this.output += d.toString(); });
    this.child.stderr?.on('data', (d: Buffer) => { this.output += d.toString(); });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`the example app exited: ${this.output}`);
      if (await fetch(`${this.url}/healthz`).then((r) => r.ok, () => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the example app did not answer /healthz within 30 s: ${this.output}`);
  }

  /**
   * CPU time the app process has used so far, in ms (user + system, from /proc; Linux only,
   * undefined elsewhere). Unlike requests per second, CPU per request hardly moves when other
   * processes compete for the machine.
   */
  cpuMs(): number | undefined {
    if (this.child?.pid === undefined) return undefined;
    try {
      // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
      const fields = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      const ticks = Number(fields[11]) + Number(fields[12]);
      return Number.isFinite(ticks) ? ticks * (1000 / CLOCK_TICKS_PER_SECOND) : undefined;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await stopChild(child);
  }
}
