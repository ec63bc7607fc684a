import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, stopChild } from './helpers/process.js';
import { inheritedEnv } from './helpers/example-app.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** GET /healthz on a new connection each time: the status, or 0 when nothing answers. */
async function health(port: number): Promise<number> {
  return fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: 'close' } }).then((res) => res.status, () => 0);
}

describe('npm start', function () {
  this.timeout(60_000);

  it('a SIGTERM to npm stops the app and frees its port (npm\'s shell used to leave the app running, orphaned)', async () => {
    const port = await freePort();
    // --ignore-scripts skips only the prestart build (npm test has built dist/): the start script itself runs.
    const env: NodeJS.ProcessEnv = { ...inheritedEnv(), PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'development', AUDIT_LOG: 'off' };
    const npm = spawn('npm', ['start', '--ignore-scripts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    npm.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    npm.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => npm.on('exit', (code, signal) => resolve([code, signal])));
    try {
      const deadline = Date.now() + 30_000;
      while ((await health(port)) !== 200) {
        if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`the app did not come up: ${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      npm.kill('SIGTERM');
      // npm passes the signal on to the app, which answers what is in flight and exits 0; npm then exits 0.
      expect(await exited).to.deep.equal([0, null]);
      expect(await health(port)).to.equal(0);
      expect(output).to.include('shutting down');
    } finally {
      await stopChild(npm, 'SIGKILL');
    }
  });
});
