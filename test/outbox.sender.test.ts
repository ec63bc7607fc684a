import { expect } from 'chai';
import { SmsOtpError } from '../src/errors.js';
import { OutboxSender } from '../src/senders/outbox.js';

describe('OutboxSender: the development sender', () => {
  const env = process.env.NODE_ENV;
  afterEach(() => {
    if (env === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = env;
  });

  it('keeps messages with to, text and sentAt', async () => {
    const outbox = new OutboxSender();
    await outbox.send({ to: '+4512345678', code: '123456', ttlSeconds: 300 });
    const [entry] = outbox.messages;
    expect(entry?.to).to.equal('+4512345678');
    expect(entry?.text).to.equal('123456 is your login code. It expires in 5 min. Never share it.');
    expect(Number.isNaN(Date.parse(entry?.sentAt ?? ''))).to.equal(false);
  });

  it('lastTo finds a number however it is written: the steps send to E.164, a user may be stored with spaces', async () => {
    const outbox = new OutboxSender();
    await outbox.send({ to: '+4512345678', code: '123456', ttlSeconds: 300 });
    await outbox.send({ to: '+4587654321', code: '654321', ttlSeconds: 300 });
    for (const written of ['+4512345678', '+45 12 34 56 78', '+45-1234-5678']) expect(outbox.lastTo(written)?.text, written).to.match(/^123456 /);
    expect(outbox.lastTo('+4599999999')).to.equal(undefined);
    expect(outbox.lastTo('not a number')).to.equal(undefined);
  });

  it('the default text never overstates how long the code lives: whole minutes rounded down, seconds under a minute', async () => {
    const outbox = new OutboxSender();
    for (const [ttlSeconds, said] of [[2, '2 s'], [59, '59 s'], [60, '1 min'], [90, '1 min'], [119, '1 min'], [300, '5 min'], [600, '10 min']] as const) {
      await outbox.send({ to: '+4512345678', code: '123456', ttlSeconds });
      expect(outbox.lastTo('+4512345678')?.text, String(ttlSeconds)).to.equal(`123456 is your login code. It expires in ${said}. Never share it.`);
    }
  });

  it('ends with the WebOTP line when a host is set', async () => {
    const outbox = new OutboxSender({ webOtpHost: 'example.com' });
    await outbox.send({ to: '+4512345678', code: '654321', ttlSeconds: 300 });
    expect(outbox.lastTo('+4512345678')?.text.split('\n').at(-1)).to.equal('@example.com #654321');
    expect(() => new OutboxSender({ webOtpHost: 'https://example.com/' })).to.throw(TypeError, /bare host/);
  });

  it('refuses, when built, a template that is not a function, throws, or leaves the code out (as GatewayApiSender does)', async () => {
    for (const messageTemplate of ['Your code', () => 'Your code is ready', () => 42, () => { throw new Error('boom'); }]) {
      expect(() => new OutboxSender({ messageTemplate } as never)).to.throw(TypeError, /^OutboxSender: messageTemplate/);
    }
    const outbox = new OutboxSender({ messageTemplate: (code, { ttlSeconds }) => `Code ${code}, ${ttlSeconds} s` });
    await outbox.send({ to: '+4512345678', code: '123456', ttlSeconds: 300 });
    expect(outbox.lastTo('+4512345678')?.text).to.equal('Code 123456, 300 s');
  });

  it('keeps at most maxMessages, dropping the oldest', async () => {
    const outbox = new OutboxSender({ maxMessages: 2 });
    for (const code of ['111111', '222222', '333333']) await outbox.send({ to: '+4512345678', code, ttlSeconds: 60 });
    expect(outbox.messages.map((m) => m.text.slice(0, 6))).to.deep.equal(['222222', '333333']);
  });

  it('refuses NODE_ENV=production unless forced', () => {
    process.env.NODE_ENV = 'production';
    expect(() => new OutboxSender()).to.throw(SmsOtpError, /production/);
    expect(() => new OutboxSender({ allowInProduction: true })).to.not.throw();
  });
});
