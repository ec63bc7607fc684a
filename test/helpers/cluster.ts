import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, createCluster } from 'redis';
import { freePort, stopChild } from './process.js';

export type TestClusterClient = ReturnType<typeof createCluster>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A throwaway Redis Cluster of three primaries (no replicas) on free loopback ports, its
 * files in a temporary folder. `start()` returns once every node reports `cluster_state:ok`;
 * `stop()` kills the nodes and removes the folder.
 */
export class LocalRedisCluster {
  private readonly processes: ChildProcess[] = [];
  private constructor(readonly ports: number[], readonly dir: string) {}

  static async start(primaries = 3): Promise<LocalRedisCluster> {
    for (const binary of ['redis-server', 'redis-cli']) {
      const found = spawnSync(binary, ['--version'], { stdio: 'ignore' });
      if (found.error || found.status !== 0) throw new Error(`the Redis Cluster tests need ${binary} on the PATH (apt-get install redis-server)`);
    }
    const ports: number[] = [];
    // Cluster nodes also listen on port + 10000 (the bus): keep both free and distinct.
    while (ports.length < primaries) {
      const port = await freePort();
      if (port <= 55535 && !ports.includes(port)) ports.push(port);
    }
    const cluster = new LocalRedisCluster(ports, mkdtempSync(path.join(tmpdir(), 'sms-otp-cluster-')));
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Seed nodes as `host:port,…`, the REDIS_CLUSTER_NODES form. */
  get nodesEnv(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  get rootNodes(): Array<{ url: string }> {
    return this.ports.map((p) => ({ url: `redis://127.0.0.1:${p}` }));
  }

  /** A connected node-redis cluster client. */
  async connect(): Promise<TestClusterClient> {
    const client = createCluster({ rootNodes: this.rootNodes });
    client.on('error', () => undefined);
    client.on('node-error', () => undefined);
    await client.connect();
    return client;
  }

  /** Runs `fn` with a plain client on each node in turn. */
  async eachNode<T>(fn: (node: ReturnType<typeof createClient>, port: number) => Promise<T>): Promise<T[]> {
    const results: T[] = [];
    for (const port of this.ports) {
      const node = createClient({ url: `redis://127.0.0.1:${port}` });
      node.on('error', () => undefined);
      await node.connect();
      try {
        results.push(await fn(node, port));
      } finally {
        await node.close();
      }
    }
    return results;
  }

  /** How many commands the nodes answered with an error of this kind (`INFO errorstats`), summed. */
  async errorCount(kind: string): Promise<number> {
    const counts = await this.eachNode(async (node) => {
      const info = await node.info('errorstats');
      return Number(new RegExp(`^errorstat_${kind}:count=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    });
    return counts.reduce((a, b) => a + b, 0);
  }

  private async boot(): Promise<void> {
    for (const port of this.ports) {
      const child = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
        '--cluster-config-file', path.join(this.dir, `nodes-${port}.conf`),
        '--save', '', '--appendonly', 'no', '--dir', this.dir,
      ], { stdio: 'ignore' });
      child.on('error', () => undefined);
      this.processes.push(child);
    }
    for (const port of this.ports) await this.waitFor(port, (info) => info !== undefined, 'answer');
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20_000 });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    for (const port of this.ports) await this.waitFor(port, (info) => info?.includes('cluster_state:ok') === true, 'report cluster_state:ok');
  }

  private async waitFor(port: number, ok: (clusterInfo: string | undefined) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const info = await clusterInfo(port);
      if (ok(info)) return;
      await sleep(50);
    }
    throw new Error(`Redis Cluster node 127.0.0.1:${port} did not ${what} within 15 s`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((child) => stopChild(child, 'SIGKILL')));
    this.processes.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `CLUSTER INFO` of one node, or undefined when it does not answer yet. */
async function clusterInfo(port: number): Promise<string | undefined> {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { connectTimeout: 500, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return String(await client.sendCommand(['CLUSTER', 'INFO']));
  } catch {
    return undefined;
  } finally {
    if (client.isOpen) client.destroy();
  }
}
