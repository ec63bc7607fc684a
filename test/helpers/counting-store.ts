import type { OtpStore } from '../../src/store.js';

/** Every method of OtpStore; the `satisfies` check fails to compile when the interface gains one. */
const METHODS = ['issue', 'resend', 'arm', 'attempt', 'cancelSend', 'reservePhoneSend', 'releasePhoneSend', 'deleteUser', 'ping'] as const satisfies ReadonlyArray<keyof OtpStore>;
type Missing = Exclude<keyof OtpStore, (typeof METHODS)[number]>;
const everyMethodListed: [Missing] extends [never] ? true : Missing = true;
void everyMethodListed;

/** Counts store calls, so a test can show that a refusal or a malformed input never reached the store. */
export function countingStore(inner: OtpStore): OtpStore & { calls: number } {
  const counted = { calls: 0 } as OtpStore & { calls: number };
  for (const name of METHODS) {
    (counted as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      counted.calls++;
      return (inner[name] as (...a: unknown[]) => unknown).apply(inner, args);
    };
  }
  return counted;
}
