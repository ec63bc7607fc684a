import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The README's Quick start code block, as a user copies it. */
function quickStart(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.split('\n## Quick start\n')[1];
  const block = section === undefined ? undefined : /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README.md has no ts block under "## Quick start"');
  return block;
}

describe('README Quick start', function () {
  this.timeout(60_000);

  it('type-checks as written under strict TypeScript (with only the app\'s own users and password check added)', () => {
    // Inside the repository, so 'passport-sms-otp' resolves to the built package as it does for the example app.
    const dir = mkdtempSync(join(root, '.quickstart-'));
    try {
      writeFileSync(join(dir, 'quickstart.mts'), `${quickStart()}
// What the Quick start leaves to the app.
type AppUser = { id: string; phone: string };
declare const users: { findById(id: string): AppUser | undefined };
declare function checkPassword(username: string, password: string, done: (err: unknown, user?: AppUser | false) => void): void;
`);
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const run = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', 'quickstart.mts'], { cwd: dir, encoding: 'utf8' });
      expect(`${run.stdout}${run.stderr}`).to.equal('');
      expect(run.status).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
