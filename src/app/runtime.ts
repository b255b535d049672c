import type { FastifyInstance } from 'fastify';
import { systemPrincipal } from '../auth/roles.ts';
import type { Config } from '../config/config.ts';
import { createCustody, type Custody, type CustodyOptions } from './custody.ts';
import { buildServer } from './server.ts';

/**
 * How often the running server signs a ledger checkpoint when the head has moved (and re-reads a
 * file keyring), and sweeps expiries. A second between checkpoints bounds what a crash, or someone
 * cutting the tail, could leave unanchored: about a second of entries.
 */
export const DEFAULT_TIMERS = { checkpointMs: 1_000, expirySweepMs: 60_000, shutdownGraceMs: 10_000 };

export interface RuntimeOptions extends Omit<CustodyOptions, 'migrate' | 'generateKeyring'> {
  /** Listen on config.host:config.port (default). Tests that inject requests leave it off. */
  listen?: boolean;
  /**
   * Run the background work (default): the gateway's cross-instance listener and usage
   * retention, the outbox worker, checkpoint and expiry timers. Tests that drive these by hand
   * leave it off.
   */
  background?: boolean;
  /** On an empty database, create a first admin API key (default: true when listening). */
  bootstrap?: boolean;
  timers?: Partial<typeof DEFAULT_TIMERS>;
}

export interface Runtime {
  custody: Custody;
  app: FastifyInstance;
  /** Where it listens (http://host:port), or null when not listening. */
  url: string | null;
  /** The first-run admin key, shown once; null unless this start created it. */
  firstAdminKey: string | null;
  /** Graceful shutdown: stop taking requests, finish in-flight work, write what is queued, close. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The one runtime, used by `custody serve` and by the tests: start order, timers, workers and
 * graceful shutdown live here and nowhere else.
 *
 * Start: keyring, database and migrations (createCustody) → HTTP server built → first-run key →
 * the gateway and key checks hear other instances' revocations (before the first request) → listen →
 * the outbox delivers what earlier runs committed → timers.
 * Stop: timers → the server drains (gateway calls answer 503 shutting_down) → custody.close
 * (outbox worker, queued usage events, a last signed checkpoint, the database).
 */
export async function startRuntime(config: Config, options: RuntimeOptions): Promise<Runtime> {
  const { logger } = options;
  const listen = options.listen ?? true;
  const background = options.background ?? true;
  const timers = { ...DEFAULT_TIMERS, ...options.timers };
  const custody = await createCustody(config, { ...options, migrate: true, generateKeyring: true });
  let app: FastifyInstance;
  try {
    app = await buildServer(custody);
    await app.ready();
  } catch (err) {
    await custody.close();
    throw err;
  }

  let firstAdminKey: string | null = null;
  if ((options.bootstrap ?? listen) && (await custody.apiKeys.count()) === 0) {
    firstAdminKey = (await custody.apiKeys.create(systemPrincipal('first-run'), { role: 'admin', name: 'first-run admin' })).key;
  }

  const intervals: NodeJS.Timeout[] = [];
  let url: string | null = null;
  try {
    if (background) await Promise.all([custody.gateway.start(), custody.apiKeys.start()]);
    // Detection's baselines are written on a timer (detection judges whatever is handed to it, started or not).
    if (background) custody.detection.start();
    // Access reviews (src/reviews): reminders before each deadline, escalation at it; every minute.
    if (background) custody.reviews.start();
    if (listen) {
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    }
    if (background) {
      await custody.outbox.start();
      // Webhooks follow the ledger; the SIEM file sink (when configured) appends it as OCSF lines.
      custody.webhookDispatcher.start();
      custody.siemSink?.start();
      intervals.push(
        setInterval(() => {
          // Signed checkpoints bound how much of the ledger's tail could be cut without detection.
          custody.ledger
            .checkpointNow()
            .then((c) => c && logger.info({ checkpoint: c }, 'ledger checkpoint signed'))
            .catch((err: Error) => logger.error({ err: err.message }, 'ledger checkpoint failed'));
          // A file keyring may have gained a version (`custody keys rotate`): wrap new data keys with it.
          try {
            if (custody.keyring.reload()) logger.info('keyring reloaded: a new key version is in use');
          } catch (err) {
            logger.error({ err: (err as Error).message }, 'keyring reload failed; keeping the keys already loaded');
          }
        }, timers.checkpointMs),
        setInterval(() => {
          custody.tokens
            .expireDue()
            .then((n) => n > 0 && logger.info({ expired: n }, 'expiry sweep'))
            .catch((err: Error) => logger.error({ err: err.message }, 'expiry sweep failed'));
        }, timers.expirySweepMs),
      );
      // The governance sweep: at start-up and every CUSTODY_SWEEP_INTERVAL_SECONDS (0: on demand only).
      if (config.sweepIntervalSeconds > 0) {
        const sweep = () =>
          custody.findings
            .sweep()
            .then((r) => logger.info({ sweep: r }, 'governance sweep'))
            .catch((err: Error) => logger.error({ err: err.message }, 'governance sweep failed'));
        void sweep();
        intervals.push(setInterval(sweep, config.sweepIntervalSeconds * 1000));
      }
      // Trends (src/trends): a snapshot follows each sweep; this timer takes the day's when none has.
      custody.trends.start();
      for (const t of intervals) t.unref();
    }
  } catch (err) {
    await app.close().catch(() => {});
    await custody.close();
    throw err;
  }

  let stopping: Promise<void> | null = null;
  return {
    custody,
    app,
    url,
    firstAdminKey,
    stop() {
      stopping ??= (async () => {
        for (const t of intervals) clearInterval(t);
        // The server waits for calls in flight; a call that will not finish (a caller trickling its
        // body or its headers, a provider streaming for minutes) is cut after a grace period, so a
        // supervisor's patience is not spent and the last usage and checkpoint are still written.
        const grace = setTimeout(() => {
          logger.warn({ graceMs: timers.shutdownGraceMs }, 'shutdown: cutting the gateway calls and connections still open');
          custody.gateway.cutAll();
          // Any other connection still open (a request whose headers or body never finished: once
          // the server is closing, Node no longer enforces its header and request timeouts).
          app.server.closeAllConnections();
        }, timers.shutdownGraceMs);
        grace.unref();
        const started = performance.now();
        await app.close().catch((err: Error) => logger.error({ err: err.message }, 'closing the HTTP server failed'));
        clearTimeout(grace);
        logger.info({ ms: Math.round(performance.now() - started) }, 'shutdown: requests drained; writing queued usage, signing a last ledger checkpoint');
        await custody.close();
        // Said only once everything above is done: a supervisor's log shows the stop was clean.
        logger.info({ ms: Math.round(performance.now() - started) }, 'shut down cleanly: usage written, last checkpoint signed, database closed');
      })();
      return stopping;
    },
  };
}
