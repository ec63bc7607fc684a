import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createClient } from 'redis';
import { freePort, stopChild } from '../test/helpers/process.js';

type Client = ReturnType<typeof createClient>;

export { freePort };

/** Calls per command (`INFO commandstats`), commands run inside scripts included. */
export type CommandCounts = Record<string, number>;

/** What the bench's own Redis answered while a few operations ran, from `MONITOR`. */
export interface MonitorCount {
  /** Commands sent by clients: the round trips (a pipeline would count each command). */
  roundTrips: number;
  /** Of those, script calls (EVALSHA, EVAL): the OTP store's round trips. */
  scriptCalls: number;
  /** Commands run inside scripts. */
  inScripts: number;
  /** Client commands by name, e.g. { get: 40, evalsha: 40, expire: 40 }. */
  byCommand: Record<string, number>;
}

/**
 * A redis-server of the bench's own on a free loopback port, so that its command
 * statistics count nothing but the bench (no persistence: `--save '' --appendonly no`).
 */
export class BenchRedis {
  private constructor(private readonly child: ChildProcess, readonly port: number, readonly client: Client) {}

  static async start(): Promise<BenchRedis> {
    const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    if (found.error || found.status !== 0) throw new Error('npm run bench needs redis-server on the PATH (apt-get install redis-server)');
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    child.on('error', () => undefined);
    const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: (n) => (n > 50 ? false : 50) } });
    client.on('error', () => undefined);
    await client.connect();
    return new BenchRedis(child, port, client);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get version(): string {
    return spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  }

  async commandCounts(): Promise<CommandCounts> {
    const info = await this.client.info('commandstats');
    const counts: CommandCounts = {};
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1] as string] = Number(match[2]);
    return counts;
  }

  /** CPU time redis-server has used so far, in ms (INFO cpu: used_cpu_user + used_cpu_sys). */
  async cpuMs(): Promise<number> {
    const info = await this.client.info('cpu');
    const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
  }

  /**
   * Resolves once Redis has seen no command for a moment: requests a load generator gave up on
   * at its deadline may still be running in the app, and their commands belong to that scenario.
   */
  async settle(quietMs = 300, maxMs = 10_000): Promise<void> {
    const total = async (): Promise<number> => Object.entries(await this.commandCounts()).reduce((sum, [name, calls]) => (name === 'info' ? sum : sum + calls), 0);
    const deadline = Date.now() + maxMs;
    let last = await total();
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, quietMs));
      const now = await total();
      if (now === last) return;
      last = now;
    }
  }

  /** Runs `fn` with MONITOR on and counts the commands Redis saw, apart from MONITOR's own. */
  async monitor(fn: () => Promise<void>): Promise<MonitorCount> {
    const monitor = this.client.duplicate();
    monitor.on('error', () => undefined);
    await monitor.connect();
    const count: MonitorCount = { roundTrips: 0, scriptCalls: 0, inScripts: 0, byCommand: {} };
    // A line: `1700000000.123456 [0 127.0.0.1:50000] "evalsha" "…"`; `[0 lua]` inside a script.
    await monitor.monitor((line: string) => {
      const match = /^\S+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
      if (match === null) return;
      const [, source, name] = match as unknown as [string, string, string];
      const command = name.toLowerCase();
      if (source === 'lua') {
        count.inScripts++;
        return;
      }
      count.roundTrips++;
      if (command === 'evalsha' || command === 'eval') count.scriptCalls++;
      count.byCommand[command] = (count.byCommand[command] ?? 0) + 1;
    });
    try {
      await fn();
      // MONITOR lines arrive after the replies: let the last ones in.
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      monitor.destroy();
    }
    return count;
  }

  async stop(): Promise<void> {
    this.client.destroy();
    await stopChild(this.child);
  }
}

/** after - before, per command; the bench's own INFO calls left out. */
export function diffCounts(before: CommandCounts, after: CommandCounts): CommandCounts {
  const diff: CommandCounts = {};
  for (const [name, calls] of Object.entries(after)) {
    if (name === 'info' || name.startsWith('config') || name === 'monitor') continue;
    const delta = calls - (before[name] ?? 0);
    if (delta > 0) diff[name] = delta;
  }
  return diff;
}
