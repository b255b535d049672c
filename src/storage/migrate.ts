import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Storage } from './database.ts';
import { foundationMigration } from './migrations/001-foundation.ts';
import { gatewayMigration } from './migrations/003-gateway.ts';
import { oauthMigration } from './migrations/002-oauth.ts';
import { inventoryIndexesMigration } from './migrations/004-inventory-indexes.ts';
import { usageTenantIndexMigration } from './migrations/005-usage-tenant-index.ts';
import { usageCallShapesMigration } from './migrations/006-usage-call-shapes.ts';
import { connectLinksMigration } from './migrations/007-connect-links.ts';
import { suspensionKindsMigration } from './migrations/008-suspension-kinds.ts';
import { callShapeKeysMigration } from './migrations/009-call-shape-keys.ts';
import { ledgerActionIndexMigration } from './migrations/010-ledger-action-index.ts';
import { revocationLanesMigration } from './migrations/011-revocation-lanes.ts';
import { governanceMigration } from './migrations/012-governance.ts';
import { enforcementMigration } from './migrations/013-enforcement.ts';
import { scopeMinimisationMigration } from './migrations/014-scope-minimisation.ts';
import { alertsMigration } from './migrations/015-alerts.ts';
import { detectionMigration } from './migrations/016-detection.ts';
import { signalsMigration } from './migrations/017-signals.ts';
import { leaksMigration } from './migrations/018-leaks.ts';
import { webhooksMigration } from './migrations/019-webhooks.ts';
import { ssfStreamsMigration } from './migrations/020-ssf-streams.ts';
import { webhookPendingMigration } from './migrations/021-webhook-pending.ts';
import { leakReplaysMigration } from './migrations/022-leak-replays.ts';
import { tokenImportMigration } from './migrations/024-token-import.ts';
import { reviewsMigration } from './migrations/023-reviews.ts';
import { riskScoreMigration } from './migrations/025-risk-score.ts';
import { trendsMigration } from './migrations/026-trends.ts';
import { reportIndexesMigration } from './migrations/027-report-indexes.ts';
import { consoleSessionsMigration } from './migrations/028-console-sessions.ts';
import { tenantRevocationsMigration } from './migrations/029-tenant-revocations.ts';
import { dropRevocationRequestedMigration } from './migrations/030-drop-revocation-requested.ts';
import { providerRevocationsMigration } from './migrations/031-provider-revocations.ts';
import type { StorageDialect } from './dialect.ts';

/**
 * The one list of migrations, shared by both databases. A capability that needs tables adds a
 * numbered file in ./migrations and one line here; names sort in the order they must run.
 */
/** How far a long migration has got (today: 006 copying stored usage events). */
export interface MigrationProgress {
  migration: string;
  done: number;
  total: number;
}

export interface MigrateOptions {
  /** Called as a long migration goes on, after each step (a page of rows). */
  onProgress?: (progress: MigrationProgress) => void;
}

export function migrationsFor(dialect: StorageDialect, options: MigrateOptions = {}): Record<string, Migration> {
  return {
    '001-foundation': foundationMigration(dialect),
    '002-oauth': oauthMigration(dialect),
    '003-gateway': gatewayMigration(dialect),
    '004-inventory-indexes': inventoryIndexesMigration(),
    '005-usage-tenant-index': usageTenantIndexMigration(),
    '006-usage-call-shapes': usageCallShapesMigration(dialect, (done, total) => options.onProgress?.({ migration: '006-usage-call-shapes', done, total })),
    '007-connect-links': connectLinksMigration(),
    '008-suspension-kinds': suspensionKindsMigration(),
    '009-call-shape-keys': callShapeKeysMigration(),
    '010-ledger-action-index': ledgerActionIndexMigration(),
    '011-revocation-lanes': revocationLanesMigration(),
    '012-governance': governanceMigration(),
    '013-enforcement': enforcementMigration(),
    '014-scope-minimisation': scopeMinimisationMigration(),
    '015-alerts': alertsMigration(),
    '016-detection': detectionMigration(),
    '017-signals': signalsMigration(),
    '018-leaks': leaksMigration(),
    '019-webhooks': webhooksMigration(),
    '020-ssf-streams': ssfStreamsMigration(),
    '021-webhook-pending': webhookPendingMigration(),
    '022-leak-replays': leakReplaysMigration(),
    '023-reviews': reviewsMigration(),
    '025-risk-score': riskScoreMigration(),
    '026-trends': trendsMigration(),
    '027-report-indexes': reportIndexesMigration(),
    '024-token-import': tokenImportMigration(),
    '028-console-sessions': consoleSessionsMigration(),
    '029-tenant-revocations': tenantRevocationsMigration(),
    '030-drop-revocation-requested': dropRevocationRequestedMigration(),
    '031-provider-revocations': providerRevocationsMigration(),
  };
}

export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export async function migrateToLatest(storage: Storage, options: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(storage.dialect, options) };
  const migrator = new Migrator({ db: storage.db, provider });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(`migration ${failed} failed: ${(result.error as Error).message ?? String(result.error)}`, { cause: result.error });
  }
  return { applied: (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

/** Whether every migration this code knows has been applied (for /readyz): the ones still pending, by name. */
export async function pendingMigrations(storage: Storage): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(storage.dialect) };
  const migrations = await new Migrator({ db: storage.db, provider }).getMigrations();
  return migrations.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
