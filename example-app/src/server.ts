import { ConfigError, loadConfig, startupWarnings, storeDescription } from './config.js';
import { createExampleApp } from './app.js';
import { createHttpServer } from './http-server.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  for (const line of startupWarnings(config, process.env)) console.warn(line);
  const { app, infra, close } = await createExampleApp(config);
  const server = createHttpServer(app).listen(config.port, config.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    // An IPv6 address is bracketed in a URL.
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    console.log(`passport-sms-otp example app on http://${host}:${port}`);
    console.log(`  store:  ${storeDescription(config)}`);
    console.log(`  sender: ${infra.senderKind}${infra.outbox ? ` (texts at http://${host}:${port}/dev/outbox)` : ''}`);
  });
  server.on('error', (err) => {
    console.error(`cannot listen on ${config.host}:${config.port}: ${err.message}`);
    process.exit(1);
  });
  // A login in flight can take a while (the text's send times out after 10 s, each store call after
  // 2 s): it is answered before the process ends, unless that takes over SHUTDOWN_GRACE_MS. A
  // second signal ends the process at once.
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`${signal} again: exiting without waiting for requests in flight`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: shutting down, answering the requests in flight first (at most ${SHUTDOWN_GRACE_MS / 1000} s)`);
    // Keep-alive connections close as soon as they are idle, so that they do not hold the server open.
    const closeIdle = setInterval(() => server.closeIdleConnections(), 100);
    server.close(() => {
      clearInterval(closeIdle);
      close().finally(() => process.exit(0));
    });
    setTimeout(() => {
      console.error(`error: requests still in flight after ${SHUTDOWN_GRACE_MS / 1000} s; exiting without their answers`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const SHUTDOWN_GRACE_MS = 20_000;

main().catch((err: unknown) => {
  console.error(`The example app cannot start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
