import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { createHttpServer } from '../example-app/src/http-server.js';
import { newestCode, startExampleApp } from './helpers/example-app.js';

const JSON_ACCEPT = { Accept: 'application/json' };

async function listening(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const closed = (server: http.Server): Promise<void> => new Promise((resolve) => { server.close(() => resolve()); });

/** Whether each request and response had Express's prototypes before Express saw them. */
function watchBirths(server: http.Server, app: Express): Array<{ request: boolean; response: boolean }> {
  const births: Array<{ request: boolean; response: boolean }> = [];
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    births.push({ request: Object.getPrototypeOf(req) === app.request, response: Object.getPrototypeOf(res) === app.response });
  });
  return births;
}

describe('Example app: createHttpServer (requests born with Express\'s prototypes)', () => {
  const servers: http.Server[] = [];
  afterEach(async () => { await Promise.all(servers.splice(0).map(closed)); });
  const serve = (app: Express): http.Server => {
    const server = createHttpServer(app);
    servers.push(server);
    return server;
  };

  it('each request and response already has the prototype Express gives it (app.listen()\'s do not)', async () => {
    const app = express();
    app.get('/', (_req, res) => { res.json({ ok: true }); });
    const server = serve(app);
    const births = watchBirths(server, app);
    const base = await listening(server);
    for (let i = 0; i < 3; i++) expect((await fetch(base)).status).to.equal(200);
    expect(births).to.deep.equal(Array.from({ length: 3 }, () => ({ request: true, response: true })));

    // The contrast: Express's own server gives the prototypes afterwards.
    const plain = express();
    plain.get('/', (_req, res) => { res.json({ ok: true }); });
    const usual = plain.listen(0, '127.0.0.1');
    servers.push(usual);
    await new Promise((resolve) => usual.once('listening', resolve));
    const usualBirths = watchBirths(usual, plain);
    await fetch(`http://127.0.0.1:${(usual.address() as AddressInfo).port}`);
    expect(usualBirths).to.deep.equal([{ request: false, response: false }]);
  });

  it('requests and responses look as they do under app.listen(): req.app, constructors, instanceof, Express\'s methods', async () => {
    const app = express();
    app.set('trust proxy', false);
    app.get('/look', (req, res) => {
      res.set('X-Seen', req.get('x-probe') ?? 'none').status(201).json({
        app: req.app === app && res.app === app,
        constructors: req.constructor === http.IncomingMessage && res.constructor === http.ServerResponse,
        instances: req instanceof http.IncomingMessage && res instanceof http.ServerResponse,
        query: req.query,
        protocol: req.protocol,
        accepts: req.accepts(['json', 'html']),
      });
    });
    const res = await request(serve(app)).get('/look?a=1').set('X-Probe', 'yes').set(JSON_ACCEPT);
    expect(res.status).to.equal(201);
    expect(res.headers['x-seen']).to.equal('yes');
    expect(res.body).to.deep.equal({ app: true, constructors: true, instances: true, query: { a: '1' }, protocol: 'http', accepts: 'json' });
  });

  it('behind a trusted proxy: protocol, secure, ip and host come from the X-Forwarded headers as under app.listen()', async () => {
    const app = express();
    app.set('trust proxy', true);
    app.get('/', (req, res) => { res.json({ protocol: req.protocol, secure: req.secure, ip: req.ip, host: req.host }); });
    const res = await request(serve(app)).get('/').set('X-Forwarded-Proto', 'https').set('X-Forwarded-For', '203.0.113.7').set('X-Forwarded-Host', 'login.example.com');
    expect(res.body).to.deep.equal({ protocol: 'https', secure: true, ip: '203.0.113.7', host: 'login.example.com' });
  });

  it('passes http.createServer() options on, and refuses request and response classes of its own', async () => {
    const app = express();
    app.get('/', (_req, res) => { res.json({ ok: true }); });
    const server = createHttpServer(app, { keepAliveTimeout: 1234 });
    servers.push(server);
    expect(server.keepAliveTimeout).to.equal(1234);
    expect((await request(server).get('/')).body).to.deep.equal({ ok: true });
    expect(() => createHttpServer(app, { IncomingMessage: http.IncomingMessage })).to.throw(TypeError, /IncomingMessage/);
    expect(() => createHttpServer(app, { ServerResponse: http.ServerResponse })).to.throw(TypeError, /ServerResponse/);
  });

  it('a mounted sub-app sees itself as req.app inside, and the parent sees itself again after', async () => {
    const app = express();
    const sub = express();
    sub.get('/inner', (req, _res, next) => {
      (req as unknown as { seenInside: boolean }).seenInside = req.app === sub;
      next();
    });
    app.use('/sub', sub);
    app.get('/sub/inner', (req, res) => { res.json({ inside: (req as unknown as { seenInside?: boolean }).seenInside, after: req.app === app }); });
    const res = await request(serve(app)).get('/sub/inner');
    expect(res.body).to.deep.equal({ inside: true, after: true });
  });

  it('a second server for the same app: both answer correctly, the newer one with born prototypes', async () => {
    const app = express();
    app.get('/', (req, res) => { res.json({ app: req.app === app, path: req.path }); });
    const first = serve(app);
    const second = serve(app);
    const births = watchBirths(second, app);
    expect((await request(first).get('/')).body).to.deep.equal({ app: true, path: '/' });
    expect((await request(second).get('/')).body).to.deep.equal({ app: true, path: '/' });
    expect(births).to.deep.equal([{ request: true, response: true }]);
  });

  describe('the example app behind it', () => {
    let handle: ExampleApp;
    beforeEach(async () => { handle = await startExampleApp(); });
    afterEach(async () => { await handle.close(); });

    it('password, code (a new session id; the old one no longer logs in), account and logout in JSON, every request born with the app\'s prototypes', async () => {
      const server = serve(handle.app);
      const births = watchBirths(server, handle.app);
      const agent = request.agent(server);
      const sid = (res: request.Response): string | undefined => ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('sid='))?.split(';')[0];
      const password = await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
      expect(password.body).to.deep.equal({ status: 'otp_required' });
      const halfId = sid(password);
      expect(halfId).to.be.a('string');
      const outbox = (await agent.get('/dev/outbox').set(JSON_ACCEPT)).body as Array<{ to: string; text: string }>;
      const wrong = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: 'abc' });
      expect(wrong.status).to.equal(400);
      const right = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: newestCode(outbox) });
      expect([right.status, right.body]).to.deep.equal([200, { status: 'authenticated' }]);
      // The session id changes with the code, and the half-authenticated one is gone.
      const fullId = sid(right);
      expect(fullId).to.be.a('string').and.not.equal(halfId);
      expect((await request(server).get('/account').set(JSON_ACCEPT).set('Cookie', halfId as string)).status).to.equal(401);
      expect((await agent.get('/account').set(JSON_ACCEPT)).body).to.deep.equal({ username: 'alice' });
      expect((await agent.post('/logout').set(JSON_ACCEPT)).body).to.deep.equal({ status: 'logged_out' });
      expect((await agent.get('/account').set(JSON_ACCEPT)).status).to.equal(401);
      expect(births).to.have.length(8);
      expect(births.every((b) => b.request && b.response)).to.equal(true);
    });
  });
});
