#!/usr/bin/env node
// Runs a command with a Redis that answers: REDIS_URL (default redis://127.0.0.1:6379)
// if something answers there, else a throwaway redis-server on a free loopback port,
// else a one-line explanation and exit 1.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';

const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/with-redis.mjs <command> [args…]');
  process.exit(2);
}

/** True when something at host:port answers a Redis PING (any Redis reply counts: auth may be needed). */
function answers(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.createConnection({ host, port });
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(/^[+-]/.test(data.toString('latin1'))));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

let parsed;
try {
  parsed = new URL(url);
} catch {
  console.error(`REDIS_URL is not a URL (expected redis://host:port): ${url.replace(/\/\/[^@/]*@/, '//***@')}`);
  process.exit(1);
}
const host = parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
const port = Number(parsed.port || 6379);

let child;
const env = { ...process.env, REDIS_URL: url };
if (!(await answers(host, port))) {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (found.error || found.status !== 0) {
    console.error(`npm test needs Redis: nothing answers at ${host}:${port} and no redis-server binary was found; install one (apt-get install redis-server) or set REDIS_URL.`);
    process.exit(1);
  }
  const throwaway = await freePort();
  child = spawn('redis-server', ['--port', String(throwaway), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await answers('127.0.0.1', throwaway)); i++) await new Promise((r) => setTimeout(r, 50));
  env.REDIS_URL = `redis://127.0.0.1:${throwaway}`;
  console.error(`Nothing answered at ${host}:${port}; started a throwaway redis-server on 127.0.0.1:${throwaway}.`);
}

const run = spawn(command, args, { stdio: 'inherit', env });
const stop = () => child?.kill('SIGTERM');
process.on('SIGINT', () => { run.kill('SIGINT'); });
run.on('exit', (code, signal) => {
  stop();
  process.exit(code ?? (signal ? 1 : 0));
});
