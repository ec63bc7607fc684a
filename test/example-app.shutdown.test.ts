import { expect } from 'chai';
import { AppProcess } from './helpers/example-app.js';
import { GatewayApiDouble } from './helpers/gatewayapi-double.js';
import { freePort } from './helpers/process.js';

describe('Example app process: SIGTERM answers the requests in flight before it exits', function () {
  this.timeout(60_000);
  let gateway: GatewayApiDouble | undefined;
  let app: AppProcess | undefined;
  afterEach(async () => {
    await app?.stop();
    await gateway?.close();
  });

  it('a login whose text is still on its way gets its answer; then the process exits 0 and says why', async () => {
    gateway = await new GatewayApiDouble().start();
    // Slower than the old 3 s grace period, well inside the sender's 10 s timeout.
    gateway.delayMs = 4000;
    app = new AppProcess(await freePort(), { GATEWAYAPI_BASE_URL: gateway.baseUrl, GATEWAYAPI_TOKEN: gateway.token, AUDIT_LOG: 'off' });
    await app.start();
    const login = fetch(`${app.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
    });
    // The request is with the provider when the signal comes.
    const deadline = Date.now() + 10_000;
    while (gateway.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(gateway.requests, 'the text reached the provider').to.have.length(1);
    const exited = app.signalAndWait('SIGTERM');
    const res = await login;
    expect([res.status, await res.json()]).to.deep.equal([200, { status: 'otp_required' }]);
    expect(await exited).to.equal(0);
    expect(gateway.received).to.have.length(1);
    expect(app.output).to.include('SIGTERM: shutting down, answering the requests in flight first');
  });
});
