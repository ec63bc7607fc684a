import { ConfigError, loadConfig, startupWarnings } from './config.js';
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
  for (const line of startupWarnings(config)) console.warn(line);
  const { app, infra, close } = await createExampleApp(config);
  const server = createHttpServer(app).listen(config.port, config.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    console.log(`passport-sms-otp example app on http://${config.host}:${port}`);
    console.log(`  store:  ${infra.storeKind === 'redis' ? 'redis (sessions: connect-redis, codes: RedisOtpStore)' : 'memory (sessions and codes in this process)'}`);
    console.log(`  sender: ${infra.senderKind}${infra.outbox ? ` (texts at http://${config.host}:${port}/dev/outbox)` : ''}`);
  });
  server.on('error', (err) => {
    console.error(`cannot listen on ${config.host}:${config.port}: ${err.message}`);
    process.exit(1);
  });
  const stop = (): void => {
    server.close(() => { close().finally(() => process.exit(0)); });
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(`The example app cannot start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
