import { expect } from 'chai';
import { OtpChallenges, requireAuthenticated, requirePendingLogin, resendSmsOtp, SmsOtp, SmsOtpError, SmsOtpStrategy, startSmsOtp } from '../src/index.js';
import { closestNames, DEFAULTS, resolveNumbers } from '../src/options.js';
import { GatewayApiSender, type GatewayApiSenderOptions } from '../src/senders/gatewayapi.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { TEST_KEY } from './helpers/app.js';

// A misspelled option used to be dropped without a word and its default used: codeTTLSeconds: 60
// gave codes that lived 300 s. Every constructor now refuses a name it does not know, whatever its
// value, and names the closest known one.

/** What a build threw, or a failure naming the build. */
function thrownBy(build: () => unknown): Error {
  try {
    build();
  } catch (err) {
    return err as Error;
  }
  throw new Error('the options were accepted');
}

const challengeBase = () => ({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY });
const smsOtpBase = () => ({ ...challengeBase(), loadUser: () => ({ id: 'u1' }), userId: (u: { id: string }) => u.id, phoneNumber: () => '+4512345678' });

describe('Options: an unknown name is refused at construction, with the closest known name', () => {
  describe('OtpChallenges (the numbers, through resolveNumbers)', () => {
    it('codeTTLSeconds and maxAttempt are refused with INVALID_OPTIONS naming both and suggesting the right names', () => {
      const err = thrownBy(() => new OtpChallenges({ ...challengeBase(), codeTTLSeconds: 60, maxAttempt: 3 } as never));
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
      expect(err.message).to.include('"codeTTLSeconds" (did you mean codeTtlSeconds?)').and.include('"maxAttempt" (did you mean maxAttempts?)');
    });

    const BAD: Array<[string, Record<string, unknown>, string, string | undefined]> = [
      ['a wrong case', { MaxAttempts: 3 }, 'MaxAttempts', 'maxAttempts'],
      ['a missing letter', { lockSecond: 60 }, 'lockSecond', 'lockSeconds'],
      ['two swapped letters', { digtis: 8 }, 'digtis', 'digits'],
      ['the unit left off', { codeTtl: 60 }, 'codeTtl', 'codeTtlSeconds'],
      ['an undefined value (still a misspelling)', { maxAttempt: undefined }, 'maxAttempt', 'maxAttempts'],
      ['a misspelled option OtpChallenges reads itself', { allowedRegion: ['DK'] }, 'allowedRegion', 'allowedRegions'],
      ['nothing near', { colour: 'red' }, 'colour', undefined],
    ];
    for (const [name, extra, key, suggestion] of BAD) {
      it(`refuses ${name}: ${key}`, () => {
        const err = thrownBy(() => new OtpChallenges({ ...challengeBase(), ...extra } as never));
        expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
        expect(err.message).to.include(`"${key}"`);
        if (suggestion === undefined) expect(err.message).to.not.include('did you mean');
        else expect(err.message).to.include(`did you mean ${suggestion}?`);
      });
    }

    it('resolveNumbers itself refuses an unknown name', () => {
      expect(() => resolveNumbers({ maxAttempt: 3 } as never)).to.throw(SmsOtpError, /maxAttempt.*did you mean maxAttempts\?/).with.property('code', 'INVALID_OPTIONS');
    });

    it('every documented option is accepted, and undefined stands for the default', () => {
      const store = new MemoryOtpStore();
      const sender = new OutboxSender();
      const all = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, allowedRegions: ['DK'], beforeSend: () => true, ...DEFAULTS, maxAttempts: 3 });
      expect(all.numbers.maxAttempts).to.equal(3);
      const undefinedEverywhere = Object.fromEntries(Object.keys(DEFAULTS).map((name) => [name, undefined]));
      const none = new OtpChallenges({ store, sender, encryptionKey: undefined, encryptionKeys: [{ id: 'k', key: TEST_KEY }], allowedRegions: undefined, beforeSend: undefined, ...undefinedEverywhere });
      expect(none.numbers).to.deep.equal(DEFAULTS);
    });
  });

  describe('SmsOtp (its own options, OtpChallenges\' and the numbers)', () => {
    it('a misspelled number is refused with INVALID_OPTIONS', () => {
      const err = thrownBy(() => new SmsOtp({ ...smsOtpBase(), codeTTLSeconds: 60 } as never));
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
      expect(err.message).to.include('did you mean codeTtlSeconds?');
    });

    it('a misspelled loadUser is named as one, not reported missing', () => {
      const { loadUser, ...rest } = smsOtpBase();
      const err = thrownBy(() => new SmsOtp({ ...rest, loaduser: loadUser } as never));
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
      expect(err.message).to.include('"loaduser" (did you mean loadUser?)');
    });

    it('a misspelled codeField or sessionKey is refused', () => {
      expect(thrownBy(() => new SmsOtp({ ...smsOtpBase(), codefield: 'otp' } as never)).message).to.include('did you mean codeField?');
      expect(thrownBy(() => new SmsOtp({ ...smsOtpBase(), sessionkey: 'mfa' } as never)).message).to.include('did you mean sessionKey?');
    });

    it('every documented option is accepted, undefined ones too', () => {
      const smsOtp = new SmsOtp({ ...smsOtpBase(), codeField: 'otp', sessionKey: 'mfa', allowedRegions: ['DK', 'SE'], beforeSend: () => true, ...DEFAULTS, maxAttempts: 4 });
      expect(smsOtp.challenges.numbers.maxAttempts).to.equal(4);
      expect(() => new SmsOtp({ ...smsOtpBase(), codeField: undefined, sessionKey: undefined, allowedRegions: undefined, beforeSend: undefined, maxAttempts: undefined })).to.not.throw();
    });

    it('start() takes only userProperty, and the guards only onDenied: SmsOtp gives the session key', () => {
      const smsOtp = new SmsOtp(smsOtpBase());
      expect(() => smsOtp.start({ userProperty: 'passwordUser' })).to.not.throw();
      expect(() => smsOtp.start({ userPropery: 'passwordUser' } as never)).to.throw(SmsOtpError, /did you mean userProperty\?/).with.property('code', 'INVALID_OPTIONS');
      expect(() => smsOtp.start({ sessionKey: 'other' } as never)).to.throw(SmsOtpError, /"sessionKey"/);
      expect(() => smsOtp.requireAuthenticated({ onDenied: () => undefined })).to.not.throw();
      expect(() => smsOtp.requireAuthenticated({ ondenied: () => undefined } as never)).to.throw(SmsOtpError, /did you mean onDenied\?/);
      expect(() => smsOtp.requirePendingLogin({ sessionKey: 'other' } as never)).to.throw(SmsOtpError, /"sessionKey"/);
    });
  });

  describe('SmsOtpStrategy', () => {
    const challenges = () => new OtpChallenges(challengeBase());

    it('a misspelled option is refused with INVALID_OPTIONS, like a bad codeField', () => {
      const err = thrownBy(() => new SmsOtpStrategy({ challenges: challenges(), loadUser: () => undefined, codefield: 'otp' } as never));
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
      expect(err.message).to.include('"codefield" (did you mean codeField?)');
    });

    it('a number given to the strategy instead of OtpChallenges is refused', () => {
      expect(() => new SmsOtpStrategy({ challenges: challenges(), loadUser: () => undefined, maxAttempts: 3 } as never)).to.throw(SmsOtpError, /"maxAttempts"/);
    });

    it('every documented option is accepted', () => {
      expect(new SmsOtpStrategy({ challenges: challenges(), loadUser: () => undefined, codeField: 'otp', sessionKey: 'mfa', name: 'sms' }).name).to.equal('sms');
      expect(() => new SmsOtpStrategy({ challenges: challenges(), loadUser: () => undefined, codeField: undefined, sessionKey: undefined, name: undefined })).to.not.throw();
    });
  });

  describe('GatewayApiSender', () => {
    const build = (options: Record<string, unknown>) => () => new GatewayApiSender({ onWarning: () => undefined, ...options } as unknown as GatewayApiSenderOptions);

    it('senderName, timeout and classs are refused with a TypeError naming each and the right name', () => {
      const err = thrownBy(build({ token: 't', senderName: 'ExampleApp', timeout: 5000, classs: 'secret' }));
      expect(err).to.be.instanceOf(TypeError);
      expect(err.message).to.match(/^GatewayApiSender: unknown options/)
        .and.include('"senderName" (did you mean sender?)')
        .and.include('"timeout" (did you mean timeoutMs?)')
        .and.include('"classs" (did you mean class?)');
    });

    it('a misspelled credential is named, never echoed', () => {
      const err = thrownBy(build({ tokne: 'very-secret-token' }));
      expect(err).to.be.instanceOf(TypeError);
      expect(err.message).to.include('"tokne" (did you mean token?)').and.not.include('very-secret-token');
    });

    it('an unknown name with an undefined value is refused too', () => {
      expect(build({ token: 't', baseURL: undefined })).to.throw(TypeError, /"baseURL" \(did you mean baseUrl\?\)/);
    });

    it('every documented option is accepted, undefined ones too', () => {
      expect(build({
        token: 't', key: undefined, secret: undefined, baseUrl: 'https://gatewayapi.eu', sender: 'ExampleApp', class: 'secret', userref: 'ref', label: 'otp',
        timeoutMs: 5000, fetch: globalThis.fetch, messageTemplate: (code: string) => `${code} is your code`, webOtpHost: 'example.com',
      })).to.not.throw();
      expect(build({ key: 'k', secret: 's', token: undefined, baseUrl: undefined, sender: undefined, class: undefined, userref: undefined, label: undefined, timeoutMs: undefined, fetch: undefined, messageTemplate: undefined, webOtpHost: undefined })).to.not.throw();
    });
  });

  describe('OutboxSender', () => {
    it('a misspelled option is refused with INVALID_OPTIONS, like its other option mistakes', () => {
      const err = thrownBy(() => new OutboxSender({ maxMessage: 10 } as never));
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
      expect(err.message).to.include('"maxMessage" (did you mean maxMessages?)');
    });

    it('a misspelled allowInProduction is named, not answered with the production refusal', () => {
      const before = process.env.NODE_ENV;
      process.env.NODE_ENV = 'production';
      try {
        expect(() => new OutboxSender({ allowInproduction: true } as never)).to.throw(SmsOtpError, /did you mean allowInProduction\?/);
      } finally {
        if (before === undefined) delete process.env.NODE_ENV;
        else process.env.NODE_ENV = before;
      }
    });

    it('every documented option is accepted', () => {
      expect(() => new OutboxSender({ maxMessages: 5, allowInProduction: false, messageTemplate: (code) => `Code ${code}`, webOtpHost: 'example.com' })).to.not.throw();
      expect(() => new OutboxSender({ maxMessages: undefined, allowInProduction: undefined, messageTemplate: undefined, webOtpHost: undefined })).to.not.throw();
    });
  });

  describe('the stores', () => {
    // What RedisOtpStore needs of a client to be built; nothing is sent.
    const client = { eval: async () => null, evalSha: async () => null };

    it('RedisOtpStore: commandTimeout or timeoutMs is refused, naming commandTimeoutMs (the timeout used to stay 2000 ms)', () => {
      for (const name of ['commandTimeout', 'timeoutMs']) {
        const err = thrownBy(() => new RedisOtpStore(client, { [name]: 100 } as never));
        expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
        expect(err.message).to.include(`RedisOtpStore: unknown option "${name}" (did you mean commandTimeoutMs?)`);
      }
      expect(new RedisOtpStore(client, { prefix: 'app', commandTimeoutMs: 100 })).to.be.instanceOf(RedisOtpStore);
    });

    it('RedisOtpStore: null options are INVALID_OPTIONS, not a TypeError from inside', () => {
      expect(thrownBy(() => new RedisOtpStore(client, null as never))).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
    });

    it('MemoryOtpStore: sweepInterval is refused, naming sweepIntervalMs', () => {
      const err = thrownBy(() => new MemoryOtpStore({ sweepInterval: 5 } as never));
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
      expect(err.message).to.include('MemoryOtpStore: unknown option "sweepInterval" (did you mean sweepIntervalMs?)');
      new MemoryOtpStore({ sweepIntervalMs: 1000, now: Date.now }).close();
    });
  });

  describe('the suggestions', () => {
    const NAMES = ['digits', 'codeTtlSeconds', 'lockSeconds', 'sendWindowSeconds', 'resendCooldownSeconds', 'maxAttempts', 'maxSendsPerChallenge', 'maxSendsPerUser', 'maxSendsPerPhoneNumber', 'sender', 'timeoutMs', 'token', 'key', 'secret'];
    const CASES: Array<[string, string[]]> = [
      ['CODETTLSECONDS', ['codeTtlSeconds']],
      ['maxAttempt', ['maxAttempts']],
      ['maxAtempts', ['maxAttempts']],
      ['digtis', ['digits']],
      ['timeout', ['timeoutMs']],
      ['senderName', ['sender']],
      ['maxSends', ['maxSendsPerChallenge', 'maxSendsPerUser', 'maxSendsPerPhoneNumber']],
      ['tokens', ['token']],
      ['kye', ['key']],
      ['colour', []],
      ['x', []],
      ['seconds', []], // ends four names: none is the one
    ];
    for (const [name, expected] of CASES) {
      it(`${name} → ${expected.join(', ') || 'none'}`, () => {
        expect(closestNames(name, NAMES)).to.deep.equal(expected);
      });
    }
  });
});

describe('OtpChallenges used directly: a misspelled store, sender or key is named, not reported missing', () => {
  it('names "stor" and suggests store', () => {
    const build = () => new OtpChallenges({ stor: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: 'c'.repeat(64) } as never);
    expect(build).to.throw(SmsOtpError, /unknown option "stor" \(did you mean store\?\)/);
  });

  it('a store of your own that lacks a method is refused when built, naming what it lacks, not a TypeError at the first login', () => {
    const inner = new MemoryOtpStore();
    const partial = { attempt: inner.attempt.bind(inner), issue: inner.issue.bind(inner), arm: inner.arm.bind(inner), cancelSend: inner.cancelSend.bind(inner) };
    const build = () => new OtpChallenges({ store: partial as never, sender: new OutboxSender(), encryptionKey: TEST_KEY });
    expect(build).to.throw(SmsOtpError, /options\.store must be an OtpStore .*it has no resend, reservePhoneSend, releasePhoneSend, deleteUser, ping methods$/)
      .with.property('code', 'INVALID_OPTIONS');
    // One that has them all, on its prototype chain as a wrapper has them, is taken.
    expect(() => new OtpChallenges({ store: Object.create(inner) as never, sender: new OutboxSender(), encryptionKey: TEST_KEY })).not.to.throw();
  });
});

describe('The standalone steps and guards refuse option names they do not take', () => {
  const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY });
  const accessors = { userId: (u: { id: string }) => u.id, phoneNumber: () => '+4512345678' };
  it('startSmsOtp: "userProprety" (did you mean userProperty?)', () => {
    expect(() => startSmsOtp({ challenges, ...accessors, userProprety: 'passwordUser' } as never)).to.throw(SmsOtpError, /startSmsOtp: unknown option "userProprety" \(did you mean userProperty\?\)/);
  });
  it('resendSmsOtp: "sessionkey" (did you mean sessionKey?)', () => {
    expect(() => resendSmsOtp({ challenges, loadUser: () => ({ id: 'u' }), phoneNumber: () => '+4512345678', sessionkey: 'mfa' } as never)).to.throw(SmsOtpError, /resendSmsOtp: unknown option "sessionkey" \(did you mean sessionKey\?\)/);
  });
  it('requireAuthenticated and requirePendingLogin: "onDenide" (did you mean onDenied?); the documented names pass', () => {
    expect(() => requireAuthenticated({ onDenide: () => undefined } as never)).to.throw(SmsOtpError, /requireAuthenticated: unknown option "onDenide" \(did you mean onDenied\?\)/);
    expect(() => requirePendingLogin({ onDenide: () => undefined } as never)).to.throw(SmsOtpError, /requirePendingLogin: unknown option "onDenide"/);
    expect(requireAuthenticated({ sessionKey: 'mfa', onDenied: undefined })).to.be.a('function');
    expect(startSmsOtp({ challenges, ...accessors, userProperty: 'passwordUser', sessionKey: undefined })).to.be.a('function');
  });
  it('options that are no object are refused as such, not as unknown names "0", "1", …', () => {
    const smsOtp = new SmsOtp({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY, loadUser: () => ({ id: 'u' }), ...accessors });
    expect(() => smsOtp.start('passwordUser' as never)).to.throw(SmsOtpError, /SmsOtp#start takes an options object \(\{ … \}\); got a string/);
    expect(() => requireAuthenticated('/login' as never)).to.throw(SmsOtpError, /requireAuthenticated takes an options object/);
    expect(() => smsOtp.requirePendingLogin([] as never)).to.throw(SmsOtpError, /got an array/);
    expect(() => new MemoryOtpStore(5 as never)).to.throw(SmsOtpError, /options must be an object/);
  });
  it('onDenied that is no function, and a strategy name that is no name, fail at construction (not as a 500 at every request)', () => {
    for (const bad of ['/login', 5, null]) {
      expect(() => requireAuthenticated({ onDenied: bad } as never), String(bad)).to.throw(SmsOtpError, /onDenied must be a function/);
      expect(() => requirePendingLogin({ onDenied: bad } as never), String(bad)).to.throw(SmsOtpError, /onDenied must be a function/);
    }
    for (const bad of [5, '', 'x'.repeat(65)]) {
      expect(() => new SmsOtpStrategy({ challenges, loadUser: () => undefined, name: bad as never }), String(bad)).to.throw(SmsOtpError, /name must be a string of 1-64 characters/);
    }
    expect(new SmsOtpStrategy({ challenges, loadUser: () => undefined, name: 'otp' }).name).to.equal('otp');
  });
});

describe('A missing function or object is INVALID_OPTIONS, as every other option mistake of the package\'s own classes', () => {
  const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY });
  const accessors = { userId: (u: { id: string }) => u.id, phoneNumber: () => '+4512345678' };
  const refused = (build: () => unknown, pattern: RegExp) => {
    const err = thrownBy(build);
    expect(err, err.message).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
    expect(err.message).to.match(pattern);
  };
  it('SmsOtp without loadUser, userId or phoneNumber, or without options', () => {
    const { loadUser, ...noLoadUser } = smsOtpBase();
    expect(loadUser).to.be.a('function');
    refused(() => new SmsOtp(noLoadUser as never), /SmsOtp requires loadUser\(id\), userId\(user\) and phoneNumber\(user\) functions/);
    refused(() => new SmsOtp({ ...smsOtpBase(), phoneNumber: '+4512345678' } as never), /phoneNumber\(user\)/);
    refused(() => new SmsOtp(undefined as never), /SmsOtp requires an options object/);
  });
  it('SmsOtpStrategy without challenges or loadUser, or without options', () => {
    refused(() => new SmsOtpStrategy({ loadUser: () => undefined } as never), /requires options\.challenges \(an OtpChallenges\)/);
    refused(() => new SmsOtpStrategy({ challenges } as never), /requires a loadUser\(id\) function/);
    refused(() => new SmsOtpStrategy(null as never), /SmsOtpStrategy requires an options object/);
  });
  it('startSmsOtp and resendSmsOtp without their functions, or without options', () => {
    refused(() => startSmsOtp({ challenges, userId: accessors.userId } as never), /startSmsOtp requires userId\(user\) and phoneNumber\(user\) functions/);
    refused(() => resendSmsOtp({ challenges, phoneNumber: accessors.phoneNumber } as never), /resendSmsOtp requires loadUser\(id\) and phoneNumber\(user\) functions/);
    refused(() => startSmsOtp({ ...accessors } as never), /startSmsOtp requires options\.challenges \(an OtpChallenges\)/);
    refused(() => resendSmsOtp({ loadUser: () => ({ id: 'u' }), phoneNumber: accessors.phoneNumber, challenges: {} } as never), /resendSmsOtp requires options\.challenges/);
    refused(() => startSmsOtp(undefined as never), /startSmsOtp requires an options object/);
    refused(() => resendSmsOtp(undefined as never), /resendSmsOtp requires an options object/);
  });
});
