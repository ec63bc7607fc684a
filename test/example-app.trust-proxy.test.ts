import { expect } from 'chai';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { startExampleApp } from './helpers/example-app.js';

/** A client that names its own address in X-Forwarded-For, once per request. */
const spoofing = (app: ExampleApp['app'], n: number) => request(app).post('/logout').set('Accept', 'application/json').set('X-Forwarded-For', `10.0.0.${n}`);

describe('Example app: TRUST_PROXY decides whose X-Forwarded-For counts for the per-IP limit', () => {
  let handle: ExampleApp | undefined;
  afterEach(async () => {
    await handle?.close();
    handle = undefined;
  });

  it('reached directly (TRUST_PROXY=0), a client cannot choose its address: the limit holds', async () => {
    handle = await startExampleApp({ RATE_LIMIT_PER_IP_PER_MIN: '2', TRUST_PROXY: '0' });
    const statuses = [];
    for (let i = 1; i <= 3; i++) statuses.push((await spoofing(handle.app, i)).status);
    expect(statuses).to.deep.equal([200, 200, 429]);
  });

  it('behind one proxy (TRUST_PROXY=1), each client is limited by the address the proxy gives', async () => {
    handle = await startExampleApp({ RATE_LIMIT_PER_IP_PER_MIN: '2', TRUST_PROXY: '1' });
    const statuses = [];
    for (let i = 1; i <= 3; i++) statuses.push((await spoofing(handle.app, i)).status);
    expect(statuses).to.deep.equal([200, 200, 200]);
    // The same forwarded address is one client.
    await spoofing(handle.app, 1);
    expect((await spoofing(handle.app, 1)).status).to.equal(429);
  });
});
