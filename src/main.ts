import type { Server } from 'node:http';
import pino from 'pino';
import { createApp } from './app';
import { createMetrics } from './http/metrics';
import { createHttpServer } from './http/server';
import { ConfigError, loadConfig } from './config';
import type { Config } from './config';
import { createEmbeddedStore } from './store/embedded/embedded-store';
import { createMongoStore } from './store/mongo/mongo-store';
import { BookingEngine } from './scheduling/booking-engine';
import { startBackgroundJobs } from './scheduling/jobs';
import type { Store } from './store/store';

/** Time a client has to send the request headers, and the whole request. */
const HEADERS_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** SIGTERM: how long in-flight requests may take to finish before their connections are cut. */
const SHUTDOWN_GRACE_MS = 20_000;

async function openStore(config: Config): Promise<Store> {
  if (config.mongodbUri !== undefined) return createMongoStore({ uri: config.mongodbUri });
  return createEmbeddedStore({ dataDir: config.dataDir });
}

/** Process entry: config → store → app → listen; SIGTERM/SIGINT → stop accepting, drain, close the store. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kairos: configuration error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = pino({ level: config.logLevel, base: { service: 'kairos' } });
  const started = Date.now();
  const store = await openStore(config);
  logger.info({ store: store.kind, ms: Date.now() - started }, 'store opened');
  if (config.authMode === 'none' && config.host !== '127.0.0.1' && config.host !== 'localhost' && config.host !== '::1') {
    logger.warn(
      { host: config.host },
      'AUTH_MODE=none while listening beyond loopback: every caller is treated as staff with no authentication',
    );
  }
  const now = (): number => Date.now();
  const metrics = createMetrics({ processMetrics: true });
  const app = createApp({ store, config, now, logger, metrics });
  const jobs = startBackgroundJobs({
    store,
    engine: new BookingEngine({ store, now, holdTtlSeconds: config.holdTtlSeconds }),
    now,
    logger,
    slotHorizonDays: config.slotHorizonDays,
    generatorIntervalSeconds: config.generatorIntervalSeconds,
    generatorFirstRunSeconds: config.generatorFirstRunSeconds,
    onHoldsExpired: (count) => metrics.holdsExpired.inc(count),
  });
  const server: Server = createHttpServer(app).listen(config.port, config.host, () => {
    logger.info({ baseUrl: config.baseUrl, startupMs: Date.now() - started }, 'Kairos listening');
  });
  // Issue "abuse limits": a slow client cannot hold a connection open indefinitely.
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    server.close(() => {
      jobs
        .stop()
        .then(() => store.close())
        .then(
        () => {
          logger.info('store closed; bye');
          process.exit(0);
        },
        (e: unknown) => {
          logger.error({ err: e }, 'store close failed');
          process.exit(1);
        },
      );
    });
    // Keep-alive connections go idle as their in-flight responses finish; close them as they do,
    // and cut whatever is still open after the grace period.
    server.closeIdleConnections();
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    sweep.unref();
    setTimeout(() => {
      logger.warn('shutdown grace period over: closing the connections still open');
      server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`kairos: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
