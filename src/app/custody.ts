import { ConfigError, type Config } from '../config/config.ts';
import { parseSuspensionKinds, SUSPENSION_KINDS } from '../tokens/token.suspension.ts';
import { createApiKeyService } from '../apikeys/apikey.service.ts';
import { createSessionService } from '../sessions/session.service.ts';
import { createSsoFlow, ssoFlowKey } from '../sessions/sso.ts';
import { createLedgerService } from '../ledger/ledger.service.ts';
import { createProviderService } from '../providers/provider.service.ts';
import { createTenantService } from '../tenants/tenant.service.ts';
import { createTokenService } from '../tokens/token.service.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { openStorage, type Storage } from '../storage/database.ts';
import { migrateToLatest, pendingMigrations } from '../storage/migrate.ts';
import { openLocalKeyring, type LocalKeyring } from '../vault/local-keyring.ts';
import { createVault } from '../vault/vault.service.ts';
import { createKeyRotationService } from '../vault/key-rotation.service.ts';
import { createStoredAccessTokenSource } from '../gateway/access-token-source.ts';
import { createGatewayService } from '../gateway/gateway.service.ts';
import { createDetectionService } from '../detection/detection.service.ts';
import { createAlertService } from '../alerts/alert.service.ts';
import { createLeakService } from '../leaks/leak.service.ts';
import { createImportService } from '../imports/import.service.ts';
import { createUsageQueries } from '../usage/usage.queries.ts';
import { createUsageCounts } from '../gateway/usage-counts.ts';
import { discoverIssuer } from '../oauth/oauth.client.ts';
import { createConnectLinkService } from '../oauth/connect-link.service.ts';
import { createConsentService } from '../oauth/consent.service.ts';
import { createRefreshService } from '../oauth/refresh.service.ts';
import { createRefreshingAccessTokenSource } from '../oauth/refreshing-access-token-source.ts';
import { createOutboxWorker } from '../outbox/outbox.worker.ts';
import { DEFAULT_OUTBOX_OPTIONS, type OutboxWorkerOptions } from '../outbox/outbox.types.ts';
import { createUpstreamRevocation } from '../outbox/upstream-revocation.service.ts';
import { createPolicyService } from '../governance/policy.service.ts';
import { consentScopePolicy, defaultPolicy, refreshScopePolicy } from '../governance/policy.rules.ts';
import { createDirectoryService } from '../governance/directory.service.ts';
import { createExceptionService } from '../governance/exception.service.ts';
import { createFindingService } from '../governance/finding.service.ts';
import { createFindingQueries } from '../governance/finding.queries.ts';
import { createTrendService } from '../trends/trend.service.ts';
import { createReportService } from '../reports/report.service.ts';
import { createReportReads } from '../reports/report.reads.ts';
import { createEnforcementService } from '../governance/enforcement.service.ts';
import { createReviewService } from '../reviews/review.service.ts';
import { createNoticeService, logNotifier, type Notifier } from '../governance/notice.service.ts';
import { createOutboxEnqueuer } from '../outbox/outbox.enqueue.ts';
import { createSsrfGuard } from '../gateway/ssrf-guard.ts';
import { createSsfKeys } from '../streams/ssf.signer.ts';
import { createSsfPush } from '../streams/ssf.push.ts';
import { createStreamService } from '../streams/stream.service.ts';
import type { PracticalTestPolicies, PracticalTestPolicy } from '../tokens/token.practical-test.ts';
import { createTokenSignalTargets } from '../tokens/token.signal-targets.ts';
import { createTransmitterService } from '../signals/transmitter.service.ts';
import { createApproverService } from '../signals/approver.service.ts';
import { createSignalReceiver } from '../signals/signal.receiver.ts';
import { createWebhookService } from '../webhooks/webhook.service.ts';
import { createWebhookDelivery } from '../webhooks/webhook.delivery.ts';
import { createWebhookDispatcher } from '../webhooks/webhook.dispatcher.ts';
import { noticeMessage, webhookNotifier } from '../webhooks/webhook.notifier.ts';
import { createEventService, createSiemFileSink } from '../events/events.service.ts';
import { API_VERSION } from './version.ts';
import { systemPrincipal } from '../auth/roles.ts';

export interface CustodyOptions {
  logger: Logger;
  clock?: Clock;
  /** Run migrations first (serve does; other commands expect a migrated database). */
  migrate?: boolean;
  /** Use an already-open storage (tests share one per database). */
  storage?: Storage;
  /** Who the direct-database actions are attributed to in the ledger. */
  actor?: string;
  /** OAuth client tuning (tests and benchmarks shorten these). */
  /** Notifiers beyond the log (tests; the signals issue adds webhooks). */
  notifiers?: Notifier[];
  /** Run an enforcement pass soon after changes (default true); false leaves passes to sweeps and callers. */
  enforceAfterChanges?: boolean;
  oauth?: { requestTimeoutMs?: number; refreshRetryBaseMs?: number; outbox?: Partial<OutboxWorkerOptions> };
  /**
   * Whether a missing development key file may be generated (`serve` and the first-run bootstrap);
   * commands that only read an existing database (ledger verify, key rotation) say which keyring
   * they need instead of creating one. Production never generates one (config.keyring).
   */
  generateKeyring?: boolean;
  /**
   * Only reads (ledger verify of a database or a copy of one): closing signs no checkpoint, so
   * verifying a ledger whose tail was cut never signs over the cut and hides it.
   */
  readOnly?: boolean;
}

/** How long a readiness answer is reused, and how long the database may take to give one. */
const READINESS_REUSE_MS = 1_000;
const READINESS_TIMEOUT_MS = 2_000;

/**
 * The composition root: the only place that wires capabilities together. Everything else
 * receives its dependencies as arguments.
 */
export async function createCustody(config: Config, options: CustodyOptions) {
  const clock = options.clock ?? systemClock;
  const { logger } = options;
  const lifts = parseSuspensionKinds(config.consentLiftsSuspensions);
  if (lifts.unknown.length > 0) {
    throw new ConfigError([`CUSTODY_CONSENT_LIFTS_SUSPENSIONS: each must be one of ${SUSPENSION_KINDS.join(', ')} (got ${lifts.unknown.map((k) => `"${k}"`).join(', ')}); empty for none`]);
  }
  // The keyring first: a deployment without its keys must stop before it creates or migrates a database.
  const keyringSource = config.keyring.kind === 'file' && !options.generateKeyring ? { ...config.keyring, createIfMissing: false } : config.keyring;
  const { keyring, createdFile, looseFileMode } = openLocalKeyring(keyringSource, clock.now());
  // Custody's own connection (the server's, and a CLI command's that opens the database itself):
  // its WAL checkpoints run on a thread of their own.
  const storage = options.storage ?? openStorage(config.database, { checkpointThread: true });
  try {
    if (options.migrate) {
      // A long migration (copying many rows) says how far it has got, at most every 5 s.
      let lastLog = 0;
      const { applied } = await migrateToLatest(storage, {
        onProgress: ({ migration, done, total }) => {
          if (Date.now() - lastLog < 5_000 && done < total) return;
          lastLog = Date.now();
          logger.info({ migration, done, total }, 'migrating the database');
        },
      });
      if (applied.length > 0) logger.info({ applied }, 'database migrated');
    }
    if (looseFileMode && config.keyring.kind === 'file') {
      logger.warn({ keyFile: config.keyring.file, mode: looseFileMode }, 'the key file is readable by other users: chmod 600 it');
      console.warn(`WARNING: key file ${config.keyring.file} has mode ${looseFileMode}; other users can read it. Run: chmod 600 ${config.keyring.file}`);
    }
    if (createdFile) {
      const banner = '!'.repeat(78);
      logger.warn({ keyFile: createdFile }, 'generated a new development keyring');
      console.warn(
        `\n${banner}\n  NO KEYRING WAS CONFIGURED: generated a development key file at\n    ${createdFile} (mode 0600)\n` +
          `  Every stored credential is encrypted under it. Back it up; losing it loses them.\n` +
          `  In production set CUSTODY_KEYRING or CUSTODY_KEYRING_FILE instead.\n${banner}\n`,
      );
    }
    const vault = await createVault({ kms: keyring, db: storage.db, now: () => clock.now() });
    const ledger = createLedgerService({ storage, database: config.database, signer: vault.ledgerSigner, clock, checkpointEvery: config.ledgerCheckpointEvery });
    const tenants = createTenantService({ storage, ledger, clock });
    const oauthTimeoutMs = options.oauth?.requestTimeoutMs ?? 10_000;
    const providers = createProviderService({ storage, vault, ledger, clock, discover: (issuer, o) => discoverIssuer(issuer, { ...o, timeoutMs: oauthTimeoutMs }) });
    // Governance policies (src/governance): CUSTODY_DORMANT_AFTER_DAYS is the global policy's default.
    const policy = createPolicyService({ storage, ledger, clock, tenants, providers, defaults: defaultPolicy(config.dormantAfterDays) });
    const practicalTestPolicies = async (): Promise<PracticalTestPolicies> => {
      const s = await policy.snapshot();
      const pick = (v: PracticalTestPolicy): PracticalTestPolicy => ({ dormantAfterDays: v.dormantAfterDays, reviewIntervalDays: v.reviewIntervalDays });
      const global = pick(s.globalValues);
      const overrides = new Map<string, PracticalTestPolicy>();
      for (const tenantId of s.tenants.keys()) {
        const p = pick(s.forTenant(tenantId));
        if (p.dormantAfterDays !== global.dormantAfterDays || p.reviewIntervalDays !== global.reviewIntervalDays) overrides.set(tenantId, p);
      }
      return { global, forTenant: (id) => overrides.get(id) ?? global, overrides: () => overrides };
    };
    const tokens = createTokenService({ storage, vault, ledger, tenants, providers, clock, policies: practicalTestPolicies });
    const apiKeys = createApiKeyService({
      storage,
      ledger,
      tenants,
      clock,
      database: config.database,
      onListenerError: (err) => logger.warn({ err: err.message }, 'API key change listener lost its connection; reconnecting'),
    });
    // The console's sign-in sessions (src/sessions): an API key or single sign-on exchanged for a cookie.
    const sessions = createSessionService({ storage, ledger, apiKeys, clock, settings: config.sessions, tenantName: async (id) => (await tenants.findVisible(storage.db, systemPrincipal('console'), id).catch(() => null))?.name ?? null });
    // Single sign-on (CUSTODY_SSO_*): its flow cookie is sealed under a system key of the vault that every instance shares.
    const sso = config.sso ? createSsoFlow({ config: config.sso, publicUrl: config.publicUrl, flowKey: await ssoFlowKey(vault, storage.db, clock.now()), clock, sessions, timeoutMs: oauthTimeoutMs }) : null;
    const keyRotation = createKeyRotationService({ storage, kms: keyring, ledger, clock, actor: options.actor ?? 'system:cli' });
    // OAuth lifecycle (src/oauth) and the crash-safe outbox of upstream revocations (src/outbox).
    const alerts = createAlertService({ storage, ledger, clock });
    // Reading gateway usage (src/usage): by day, workload, scope and outcome.
    const usage = createUsageQueries({ storage, clock, tokens, tenants, counts: createUsageCounts(storage) });
    const upstreamRevocation = createUpstreamRevocation({ storage, tokens, ledger, providers, alerts, clock, requestTimeoutMs: oauthTimeoutMs });
    tokens.onTransition(upstreamRevocation.enqueueOnRevoke);
    // The SSF transmitter (src/streams): a SET per stream of the tenant, queued in the transaction that revokes or suspends.
    const ssfKeys = createSsfKeys({ vault, db: storage.db, clock });
    const streams = createStreamService({ storage, vault, ledger, tenants, clock, keys: ssfKeys, enqueue: createOutboxEnqueuer(storage.dialect), publicUrl: config.publicUrl, production: config.env === 'production' });
    tokens.onTransition(streams.enqueueOnTransition);
    const ssfGuard = createSsrfGuard({ connectionsPerOrigin: 8, connectTimeoutMs: oauthTimeoutMs });
    const ssfPush = createSsfPush({ storage, repo: streams.repo, vault, keys: ssfKeys, ledger, alerts, tokens, providers, clock, guard: ssfGuard, publicUrl: config.publicUrl, production: config.env === 'production', requestTimeoutMs: oauthTimeoutMs });
    // Shared Signals receiver and approver offboarding (src/signals): SETs act per the tenant's signalActions policy.
    const signalTargets = createTokenSignalTargets(storage.dialect);
    const transmitters = createTransmitterService({ storage, ledger, clock, tenants, production: config.env === 'production' });
    const approvers = createApproverService({ storage, ledger, clock, tenants, tokens, targets: signalTargets });
    const signals = createSignalReceiver({ storage, ledger, clock, logger, transmitters, tokens, targets: signalTargets, approvers, alerts, jwksTimeoutMs: oauthTimeoutMs, production: config.env === 'production', signalActions: async (tenantId) => (await policy.snapshot()).forTenant(tenantId).signalActions });
    // Leaked-token intake (src/leaks): a match is revoked in the request, its upstream revocation queued by the hook above.
    const leaks = createLeakService({ storage, vault, ledger, tokens, alerts, clock, logger });
    // Import of tokens held elsewhere (src/imports): batches written through the tokens' own unit of work.
    const imports = createImportService({ storage, tokens, tenants, providers, clock });
    // Notices given before enforcement (src/governance), delivered through the outbox to each notifier.
    // Signed webhooks (src/webhooks): the ledger tailed into outbox jobs, and notices through their notifier.
    const production = config.env === 'production';
    const webhooks = createWebhookService({ storage, vault, ledger, tenants, clock, production });
    const kickOutbox = () => outbox.kick();
    const webhookDelivery = createWebhookDelivery({
      storage,
      ledger,
      alerts,
      webhooks,
      clock,
      logger,
      options: { timeoutMs: Math.min(oauthTimeoutMs, 15_000), production },
      noticeMessage: async (id, includeLink) => noticeMessage(await notices.get(systemPrincipal('webhooks'), id), includeLink),
    });
    const webhookDispatcher = createWebhookDispatcher({ storage, ledger, webhooks, enqueue: createOutboxEnqueuer(storage.dialect), clock, logger, retentionDays: config.webhookLogRetentionDays, pollMs: 1_000, onEnqueued: kickOutbox });
    const notices = createNoticeService({
      storage,
      vault,
      ledger,
      clock,
      logger,
      alerts,
      enqueue: createOutboxEnqueuer(storage.dialect),
      notifiers: [logNotifier(logger), webhookNotifier({ storage, webhooks, enqueue: createOutboxEnqueuer(storage.dialect), clock, onEnqueued: kickOutbox }), ...(options.notifiers ?? [])],
    });
    // The SIEM export (src/events): the ledger as OCSF, by API and (CUSTODY_SIEM_FILE) as a file of JSON lines.
    const events = createEventService({ ledger, productVersion: API_VERSION });
    const siemSink = config.siemFile ? createSiemFileSink({ storage, ledger, clock, logger, file: config.siemFile, productVersion: API_VERSION, pollMs: 1_000 }) : null;
    const outbox = createOutboxWorker({
      storage,
      clock,
      logger,
      handlers: { upstream_revocation: upstreamRevocation.handler, notice_delivery: notices.handler, ssf_push: ssfPush.handler, webhook_delivery: webhookDelivery.handler },
      options: { ...DEFAULT_OUTBOX_OPTIONS, giveUpAfterMs: config.revocationGiveUpMs, bulkPerSecond: config.revocationBulkPerSecond, ...options.oauth?.outbox },
      database: config.database,
    });
    tokens.onCommittedChange((change) => {
      // A suspension may have queued SSF events (src/streams): they go out now too, not at the next poll.
      if (change.to === 'revoked' || change.to === 'suspended') outbox.kick();
    });
    // Access tokens are refreshed this long before they expire, by the refresh service and the gateway alike.
    const refreshSkewMs = 60_000;
    const consentService = createConsentService({ storage, vault, ledger, providers, tokens, clock, requestTimeoutMs: oauthTimeoutMs, tenants, publicUrl: config.publicUrl, flowTtlMs: 10 * 60_000, suspensionPolicy: { consentLifts: lifts.kinds }, logger, approverDeactivated: approvers.isDeactivated, scopePolicy: async (tenantId, providerId) => consentScopePolicy((await policy.snapshot()).forTenant(tenantId), providerId) });
    const consent = consentService;
    const connectLinks = createConnectLinkService({
      storage,
      ledger,
      tenants,
      providers,
      consent,
      clock,
      publicUrl: config.publicUrl,
      isActorActive: apiKeys.isActorActive,
      // A reauthorisation asks for the granted scopes without those the tenant's policy forbids.
      reauthorizable: async (tokenId) => {
        const t = await tokens.reauthorizable(tokenId);
        if (!t) return null;
        const forbidden = (await policy.snapshot()).forTenant(t.tenantId).forbiddenScopes[t.providerId] ?? [];
        return { ...t, scopes: t.grantedScopes.filter((s) => !forbidden.includes(s)) };
      },
    });
    const refresh = createRefreshService({ storage, providers, tokens, clock, logger, requestTimeoutMs: oauthTimeoutMs, alerts, refreshSkewMs, attempts: 3, retryBaseMs: options.oauth?.refreshRetryBaseMs ?? 500, narrowing: async (tenantId) => refreshScopePolicy((await policy.snapshot()).forTenant(tenantId)) });
    // Short-lived access (policy maxAccessTokenTtlMinutes): asked on every gateway call, so read from the latest loaded policies.
    const maxAccessAgeMs = (tenantId: string): number | null => {
      const minutes = policy.latest()?.forTenant(tenantId).maxAccessTokenTtlMinutes;
      return minutes === undefined || minutes === null ? null : minutes * 60_000;
    };
    // Detection on use (src/detection): judges each committed batch of gateway usage off the path of calls.
    const detection = createDetectionService({ storage, tokens, alerts, ledger, clock, logger, policyFor: async (tenantId) => (await policy.snapshot()).forTenant(tenantId) });
    const gateway = createGatewayService({
      storage,
      database: config.database,
      tokens,
      providers,
      ledger,
      accessTokens: createRefreshingAccessTokenSource({ stored: createStoredAccessTokenSource({ reveal: tokens.revealAccessToken }), refresh, clock, skewMs: refreshSkewMs, maxAccessAgeMs }),
      clock,
      logger,
      limits: config.gateway,
      onUsageWritten: detection.ingest,
      onStateRefusal: detection.noteStateRefusal,
    });

    const directory = createDirectoryService({ storage, ledger, clock, tenants, tokens });
    const exceptions = createExceptionService({ storage, ledger, clock, tenants, tokens });
    // The risk score (src/governance/risk.rules.ts) weighs scopes by their provider's catalogue.
    const scopeCatalogues = async () => Object.fromEntries((await providers.list()).map((p) => [p.id, p.scopeCatalogue]));
    const findings = createFindingService({ storage, database: config.database, ledger, clock, logger, tokens, policy, directory, exceptions, scopeCatalogues });
    const enforcement = createEnforcementService({ storage, ledger, clock, logger, tokens, policy, directory, exceptions, notices, links: connectLinks, providers });
    // After changes, a pass a second later (debounced); tests that step a fixed clock run passes themselves.
    findings.setEnforcement({ pass: enforcement.pass, kick: options.enforceAfterChanges === false ? () => {} : enforcement.kick });
    const findingQueries = createFindingQueries({ storage, ledger, clock, repo: findings.repo, tenants, tokens, lastSweepStart: findings.lastSweepStart });
    // Access reviews (src/reviews): decided through the tokens' own operations; reminders are notices; escalation hands over to enforcement.
    const reviews = createReviewService({ storage, ledger, clock, logger, tenants, providers, tokens, directory, notices, policy });
    // Trends (src/trends): the findings summary's own counts, kept day by day; a snapshot after every sweep (and a daily timer).
    const trends = createTrendService({
      storage,
      clock,
      logger,
      tenants,
      counts: async () => {
        const [live, managed] = await Promise.all([findingQueries.liveCounts(), tokens.managedCounts()]);
        return { findings: live.map((c) => ({ tenantId: c.tenant_id, type: c.type, n: c.n })), tokens: managed };
      },
    });
    findings.onSwept(async () => {
      await trends.snapshot();
    });
    // The compliance report (src/reports): figures from each capability that owns them, signed with the ledger's key.
    // Tampering found by a verification (an auditor's, the console's, a scheduled one) is an alert
    // for the security team, not only an answer to whoever asked: critical, one open at a time
    // (repeats count on it), ledgered. Not from a read-only command (the CLI verifying a copy).
    if (!options.readOnly) {
      ledger.onVerified((r) => {
        if (r.ok) return;
        const first = r.problems.slice(0, 10).map((p) => ({ kind: p.kind, seq: p.seq, message: p.message }));
        storage.db
          .transaction()
          .execute((trx) =>
            alerts.raise(
              trx,
              {
                kind: 'ledger_tampered',
                severity: 'critical',
                tenantId: null,
                subjectId: null,
                message: `Ledger verification found ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} (first: ${first[0]?.kind ?? 'unknown'} at seq ${first[0]?.seq ?? '?'}): entries were edited, removed or reordered. Keep the database as it is for investigation; run custody ledger verify --json for every problem.`,
                data: { entries: r.entries, lastSeq: r.lastSeq, problems: r.problems.length },
                evidence: { kind: 'ledger_verification', problems: first },
              },
              clock.now(),
            ),
          )
          .catch((err: Error) => logger.error({ err: err.message }, 'raising the ledger_tampered alert failed'));
      });
    }
    const reportReads = createReportReads(storage, config.database);
    const reports = createReportService({ clock, logger, instance: { publicUrl: config.publicUrl, version: API_VERSION }, signer: vault.ledgerSigner, tenants, providers, tokens, findings: findingQueries, lastSweepStart: findings.lastSweepStart, exceptions, ledger, reviewStats: reviews.stats, trendSeries: trends.series, reads: reportReads });
    // Findings follow every change that can alter them, soon after it commits (off the request path).
    const reevaluateTenant = async (tenantId: string) => {
      for (let after: string | null = null; ; ) {
        const ids = await tokens.facts.liveIds(storage.db, tenantId, after, 5_000);
        findings.markDirty(ids);
        if (ids.length < 5_000) return;
        after = ids[ids.length - 1]!;
      }
    };
    const quietly = (what: string) => (err: Error) => logger.error({ err: err.message }, `${what} failed; the next sweep will catch up`);
    tokens.onCommittedChanged((id) => findings.markDirty([id]));
    policy.onChange((scope) => {
      if (scope === 'global') void findings.sweep().catch(quietly('the sweep after a policy change'));
      else void reevaluateTenant(scope).catch(quietly('re-evaluating a tenant after its policy changed'));
    });
    exceptions.onChange((e) => {
      if (e.tokenId) findings.markDirty([e.tokenId]);
      else void reevaluateTenant(e.tenantId).catch(quietly('re-evaluating a tenant after an exception changed'));
    });
    directory.onChange((change) => {
      void (async () => {
        if (change.tokenIds) findings.markDirty(change.tokenIds);
        for (const owner of change.owners ?? []) findings.markDirty(await tokens.facts.idsOfOwner(storage.db, owner));
        for (const w of change.workloads ?? []) findings.markDirty(await tokens.facts.idsNamingWorkload(storage.db, w.name, w.tenantId));
        await findings.evaluateWorkloads();
      })().catch(quietly('re-evaluating findings after a directory change'));
    });

    let closing: Promise<void> | null = null;
    type Readiness = { ready: boolean; database: 'ok' | 'unreachable' | 'timeout'; migrations: 'current' | 'pending' | 'unknown'; pending?: string[] };
    let lastReadiness: { at: number; answer: Promise<Readiness> } | null = null;
    const readiness = (): Promise<Readiness> => {
      const now = Date.now();
      if (lastReadiness && now - lastReadiness.at < READINESS_REUSE_MS) return lastReadiness.answer;
      const check = (async (): Promise<Readiness> => {
        const pending = pendingMigrations(storage).then(
          (names): Readiness => (names.length === 0 ? { ready: true, database: 'ok', migrations: 'current' } : { ready: false, database: 'ok', migrations: 'pending', pending: names }),
          (): Readiness => ({ ready: false, database: 'unreachable', migrations: 'unknown' }),
        );
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<Readiness>((resolve) => {
          timer = setTimeout(() => resolve({ ready: false, database: 'timeout', migrations: 'unknown' }), READINESS_TIMEOUT_MS);
        });
        try {
          return await Promise.race([pending, timeout]);
        } finally {
          clearTimeout(timer);
        }
      })();
      lastReadiness = { at: now, answer: check };
      return check;
    };
    return {
      config,
      logger,
      clock,
      storage,
      keyring: keyring as LocalKeyring,
      vault,
      ledger,
      tenants,
      providers,
      tokens,
      apiKeys,
      sessions,
      sso,
      keyRotation,
      gateway,
      detection,
      alerts,
      usage,
      upstreamRevocation,
      streams,
      leaks,
      imports,
      transmitters,
      approvers,
      signals,
      outbox,
      consent,
      connectLinks,
      refresh,
      policy,
      directory,
      exceptions,
      findings,
      findingQueries,
      reviews,
      trends,
      reports,
      notices,
      enforcement,
      webhooks,
      webhookDispatcher,
      events,
      siemSink,
      /**
       * For /readyz: the database answers and every migration this code knows is applied. One
       * check at a time, its answer reused for a second, and bounded by a timeout: a flood of
       * probes (it needs no key) costs one query a second, and a database that hangs answers 503
       * instead of holding connections.
       */
      readiness,
      /**
       * Stops the workers, writes every queued usage event, signs a last ledger checkpoint if the
       * head moved, and closes the database (unless it was handed in). Idempotent.
       */
      close() {
        closing ??= (async () => {
          await webhookDispatcher.stop().catch(() => {});
          await siemSink?.stop().catch(() => {});
          await outbox.stop().catch((err: Error) => logger.error({ err: err.message }, 'stopping the outbox worker failed'));
          await webhookDelivery.close().catch(() => {});
          await ssfGuard.close().catch(() => {});
          await findings.close().catch((err: Error) => logger.error({ err: err.message }, 'stopping the findings evaluation failed'));
          await trends.stop().catch(() => {});
          await reviews.close().catch((err: Error) => logger.error({ err: err.message }, 'stopping the reviews pass failed'));
          await enforcement.close().catch((err: Error) => logger.error({ err: err.message }, 'stopping enforcement failed'));
          await reportReads.close().catch(() => {});
          // In-flight gateway calls have finished (the server closed first): write every queued usage event.
          await gateway.close().catch((err: Error) => logger.error({ err: err.message }, 'writing gateway usage at shutdown failed'));
          // The last batches written at shutdown are judged, and the baselines written.
          await detection.close().catch((err: Error) => logger.error({ err: err.message }, 'stopping detection failed'));
          // Rolled-up anonymous SET refusals still in memory go to the ledger.
          await signals.close().catch((err: Error) => logger.error({ err: err.message }, 'writing rolled-up SET refusals failed'));
          await apiKeys.close().catch(() => {});
          if (!options.readOnly) await ledger.checkpointNow().catch((err: Error) => logger.error({ err: err.message }, 'the last ledger checkpoint failed'));
          if (!options.storage) await storage.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    if (!options.storage) await storage.close();
    throw err;
  }
}

export type Custody = Awaited<ReturnType<typeof createCustody>>;
