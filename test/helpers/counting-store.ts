import { OTP_STORE_METHODS as METHODS, type OtpStore } from '../../src/store.js';

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
