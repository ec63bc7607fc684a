import { expect } from 'chai';
import type session from 'express-session';
import { loadConfig } from '../example-app/src/config.js';
import { createInfrastructure } from '../example-app/src/infra.js';
import { MemorySessionStore } from '../example-app/src/memory-sessions.js';
import { ANONYMOUS_SESSION_TTL_SECONDS, LOGIN_SESSION_TTL_SECONDS } from '../example-app/src/sessions.js';

const cookie = { originalMaxAge: null, httpOnly: true, path: '/' } as unknown as session.Cookie;
const anonymous = { cookie, csrfToken: 'a'.repeat(64) } as unknown as session.SessionData;
const loggedIn = { cookie, passport: { user: '1' } } as unknown as session.SessionData;
const pending = { cookie, smsOtp: { userId: '1', challengeId: 'c', startedAtMs: 0, expiresAtMs: 1 } } as unknown as session.SessionData;

describe('Example app: sessions in memory mode expire as they do in Redis', () => {
  let clock = 0;
  let store: MemorySessionStore;
  beforeEach(() => {
    clock = 1_000_000;
    store = new MemorySessionStore(() => clock);
  });
  afterEach(() => store.close());

  const get = (sid: string) => new Promise<session.SessionData | null | undefined>((resolve, reject) => store.get(sid, (err, data) => (err ? reject(err) : resolve(data))));
  const set = (sid: string, data: session.SessionData) => new Promise<void>((resolve, reject) => store.set(sid, data, (err) => (err ? reject(err) : resolve())));
  const touch = (sid: string, data: session.SessionData) => new Promise<void>((resolve) => store.touch(sid, data, () => resolve()));

  it('a session with only a CSRF token lives half an hour from its last write', async () => {
    await set('a', anonymous);
    clock += ANONYMOUS_SESSION_TTL_SECONDS * 1000 - 1;
    expect(await get('a')).to.deep.equal(anonymous);
    clock += 1;
    expect(await get('a')).to.equal(null);
  });

  it('a session that holds a login, full or pending, lives a day, and a touch pushes it back', async () => {
    await set('full', loggedIn);
    await set('pending', pending);
    clock += LOGIN_SESSION_TTL_SECONDS * 1000 - 1000;
    await touch('full', loggedIn);
    clock += 1000;
    expect(await get('pending')).to.equal(null);
    clock += LOGIN_SESSION_TTL_SECONDS * 1000 - 1001;
    expect(await get('full')).to.deep.equal(loggedIn);
    clock += 1;
    expect(await get('full')).to.equal(null);
  });

  it('a touch does not bring back an expired or destroyed session', async () => {
    await set('a', anonymous);
    await set('b', anonymous);
    await new Promise<void>((resolve) => store.destroy('b', () => resolve()));
    clock += ANONYMOUS_SESSION_TTL_SECONDS * 1000;
    await touch('a', anonymous);
    await touch('b', anonymous);
    expect([await get('a'), await get('b')]).to.deep.equal([null, null]);
  });

  it('expired sessions are dropped without being read: memory stays bounded by the live ones', async () => {
    for (let i = 0; i < 100; i++) await set(`s${i}`, anonymous);
    await set('login', loggedIn);
    expect(store.size).to.equal(101);
    clock += ANONYMOUS_SESSION_TTL_SECONDS * 1000;
    expect(store.size).to.equal(1);
    const all = await new Promise<Record<string, session.SessionData> | null | undefined>((resolve, reject) => store.all((err, sessions) => (err ? reject(err) : resolve(sessions))));
    expect(all).to.deep.equal({ login: loggedIn });
  });

  it('is what memory mode uses (express-session\'s MemoryStore kept every session until the process ended)', async () => {
    const infra = await createInfrastructure(loadConfig({ RATE_LIMIT_PER_IP_PER_MIN: '0' }));
    try {
      expect(infra.sessionStore).to.be.instanceOf(MemorySessionStore);
    } finally {
      await infra.close();
    }
  });
});
