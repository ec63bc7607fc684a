import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The first ts code block under a README heading, as a user copies it. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.split(`\n${heading}\n`)[1];
  const block = section === undefined ? undefined : /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error(`README.md has no ts block under "${heading}"`);
  return block;
}

/** tsc's output for one module under strict TypeScript (and any further flags), in a folder inside the repository. */
function typeCheck(source: string, flags: string[] = []): { output: string; status: number | null } {
  // Inside the repository, so 'passport-sms-otp' resolves to the built package as it does for the example app.
  const dir = mkdtempSync(join(root, '.quickstart-'));
  try {
    writeFileSync(join(dir, 'block.mts'), source);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const run = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', ...flags, 'block.mts'], { cwd: dir, encoding: 'utf8' });
    return { output: `${run.stdout}${run.stderr}`, status: run.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const QUICK_START_APP = `
// What the Quick start leaves to the app.
type AppUser = { id: string; phone: string };
declare const users: { findById(id: string): AppUser | undefined };
declare function checkPassword(username: string, password: string, done: (err: unknown, user?: AppUser | false) => void): void;
`;

describe('README Quick start', function () {
  this.timeout(60_000);

  it('the audit events example type-checks, with the event types it imports', () => {
    const { output, status } = typeCheck(`${readmeBlock('### Audit events')}
import type { SmsOtp } from 'passport-sms-otp';
declare const smsOtp: SmsOtp<{ id: string }>;
declare const metrics: { increment(name: string): void };
`);
    expect(output).to.equal('');
    expect(status).to.equal(0);
  });

  it('type-checks as written under strict TypeScript (with only the app\'s own users and password check added)', () => {
    const { output, status } = typeCheck(`${readmeBlock('## Quick start')}${QUICK_START_APP}`);
    expect(output).to.equal('');
    expect(status).to.equal(0);
  });

  it('the Quick start and the GatewayAPI configuration type-check under exactOptionalPropertyTypes too (baseUrl from an env var that may be undefined)', () => {
    for (const [heading, extra] of [['## Quick start', QUICK_START_APP], ['### Configuration', '']] as const) {
      const { output, status } = typeCheck(`${readmeBlock(heading)}${extra}`, ['--exactOptionalPropertyTypes']);
      expect(output, heading).to.equal('');
      expect(status, heading).to.equal(0);
    }
    // Numbers from the environment, left undefined when unset.
    const numbers = typeCheck(`import { OtpChallenges, MemoryOtpStore, OutboxSender } from 'passport-sms-otp';
new OtpChallenges({ store: new MemoryOtpStore({ sweepIntervalMs: undefined }), sender: new OutboxSender(), encryptionKey: 'a'.repeat(64),
  codeTtlSeconds: process.env.OTP_TTL_SECONDS ? Number(process.env.OTP_TTL_SECONDS) : undefined, allowedRegions: undefined });
`, ['--exactOptionalPropertyTypes']);
    expect(numbers.output).to.equal('');
  });
});
