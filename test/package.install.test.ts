import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// What a user's code touches first; each must be a real export in both import styles.
const EXPORTS = ['SmsOtp', 'SmsOtpStrategy', 'OtpChallenges', 'RedisOtpStore', 'MemoryOtpStore', 'OutboxSender', 'SmsOtpError', 'ERROR_CODES', 'requireAuthenticated', 'requirePendingLogin', 'startSmsOtp', 'resendSmsOtp', 'smsOtpErrorHandler', 'DEFAULTS'];

describe('npm pack: the package installs and imports in an empty project', function () {
  this.timeout(180_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sms-otp-pack-'));
    execFileSync(npm, ['pack', '--pack-destination', dir, '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (tarball === undefined) throw new Error('npm pack made no tarball');
    const project = join(dir, 'consumer');
    execFileSync('mkdir', [project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    execFileSync(npm, ['install', join(dir, tarball), '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: project, stdio: ['ignore', 'ignore', 'pipe'] });
    dir = project;
  });
  after(() => {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('ships dist with type declarations, the README with its pictures, and no tests or sources', () => {
    const files = node(['-e', "const fs=require('fs');const walk=(d)=>fs.readdirSync(d,{withFileTypes:true}).flatMap(e=>e.isDirectory()?walk(d+'/'+e.name):[d+'/'+e.name]);console.log(walk('node_modules/passport-sms-otp').join('\\n'))"]).split('\n');
    expect(files).to.include('node_modules/passport-sms-otp/dist/index.d.ts');
    expect(files).to.include('node_modules/passport-sms-otp/LICENSE');
    expect(files.filter((f) => /\/(test|src)\//.test(f))).to.deep.equal([]);
    // The README's pictures too, so the package's page shows them.
    const readme = node(['-e', "process.stdout.write(require('fs').readFileSync('node_modules/passport-sms-otp/README.md','utf8'))"]);
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1] as string);
    expect(images).to.have.length.greaterThan(0);
    for (const image of images) expect(files, image).to.include(`node_modules/passport-sms-otp/${image}`);
    // The source maps carry their TypeScript (src/ is not shipped), so stack traces and debuggers can show it.
    const map = JSON.parse(node(['-e', "process.stdout.write(require('fs').readFileSync('node_modules/passport-sms-otp/dist/strategy.js.map','utf8'))"])) as { sources: string[]; sourcesContent?: string[] };
    expect(map.sourcesContent?.[0]).to.include('class SmsOtpStrategy');
  });

  it('import (ESM)', () => {
    const out = node(['--input-type=module', '-e', `import * as m from 'passport-sms-otp'; console.log(JSON.stringify(${JSON.stringify(EXPORTS)}.filter((n) => m[n] === undefined)));`]);
    expect(JSON.parse(out)).to.deep.equal([]);
  });

  it('require() (CommonJS, Node >= 20.19)', () => {
    const out = node(['--no-warnings', '-e', `const m = require('passport-sms-otp'); console.log(JSON.stringify(${JSON.stringify(EXPORTS)}.filter((n) => m[n] === undefined)));`]);
    expect(JSON.parse(out)).to.deep.equal([]);
  });

  it('type-checks in a strict TypeScript project with skipLibCheck off: the declarations bring the types they need', () => {
    writeFileSync(join(dir, 'check.mts'), `
      import { SmsOtp, SmsOtpStrategy, MemoryOtpStore, OutboxSender, type SmsOtpFailure } from 'passport-sms-otp';
      const smsOtp = new SmsOtp<{ id: string; phone: string }>({
        store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: '${'c'.repeat(64)}',
        loadUser: (id) => ({ id, phone: '+4512345678' }), userId: (u) => u.id, phoneNumber: (u) => u.phone,
      });
      const strategy: SmsOtpStrategy<{ id: string; phone: string }> = smsOtp.strategy;
      const failure: SmsOtpFailure = { code: 'CODE_WRONG', message: 'no' };
      console.log(strategy.name, failure.code);
    `);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const run = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', 'check.mts'], { cwd: dir, encoding: 'utf8' });
    expect(`${run.stdout}${run.stderr}${run.error === undefined ? '' : String(run.error)}`).to.equal('');
    expect(run.status).to.equal(0);
  });

  it('runs a challenge end to end from the installed package', () => {
    const script = `
      import { OtpChallenges, MemoryOtpStore, OutboxSender } from 'passport-sms-otp';
      const store = new MemoryOtpStore(); const sender = new OutboxSender();
      const c = new OtpChallenges({ store, sender, encryptionKey: '${'c'.repeat(64)}' });
      const { challengeId } = await c.start({ userId: 'u', phoneNumber: '+4512345678' });
      const code = sender.messages[0].text.slice(0, 6);
      console.log(JSON.stringify(await c.verify({ userId: 'u', challengeId, code })));
      store.close();`;
    writeFileSync(join(dir, 'run.mjs'), script);
    expect(JSON.parse(node(['run.mjs']))).to.deep.equal({ ok: true });
  });
});
