import type { Kysely } from 'kysely';
import type { StorageDialect } from '../dialect.ts';

/**
 * The OAuth lifecycle (issue 3): consent flows in progress, the outbox of side effects that must
 * survive crashes, alerts, what each provider supports, and the kill-time of each revocation.
 */
export function oauthMigration(_dialect: StorageDialect) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // What discovery (RFC 8414 / OpenID discovery) told us, and what refreshes showed.
      await db.schema.alterTable('providers').addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}')).execute();
      await db.schema.alterTable('providers').addColumn('refresh_rotation', 'integer').execute();
      await db.schema.alterTable('providers').addColumn('discovered_at', 'text').execute();

      // Kill time: requested → locally effective → upstream confirmed, and the upstream outcome.
      await db.schema.alterTable('tokens').addColumn('revocation_requested_at', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('revocation_effective_at', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('upstream_revocation', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('upstream_confirmed_at', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('approval_started_by', 'text').execute();
      await db.schema.createIndex('tokens_consent_lookup').on('tokens').columns(['tenant_id', 'provider_id', 'subject']).execute();

      // A consent in progress. The PKCE verifier is encrypted under the flow's own data key.
      await db.schema
        .createTable('oauth_flows')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull().unique())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('provider_id', 'text', (c) => c.notNull().references('providers.id'))
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text')
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('started_by', 'text', (c) => c.notNull())
        .addColumn('verifier_enc', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('consumed_at', 'text')
        .addColumn('outcome', 'text')
        .addColumn('token_id', 'text')
        .execute();

      // Side effects committed with the state change that causes them (see src/outbox/README.md).
      await db.schema
        .createTable('outbox_jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('locked_until', 'text')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('completed_at', 'text')
        .addUniqueConstraint('outbox_jobs_kind_subject', ['kind', 'subject_id'])
        .execute();
      await db.schema.createIndex('outbox_jobs_due').on('outbox_jobs').columns(['status', 'next_attempt_at']).execute();

      await db.schema
        .createTable('alerts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('subject_id', 'text')
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('acknowledged_at', 'text')
        .execute();
      await db.schema.createIndex('alerts_subject').on('alerts').columns(['subject_id', 'created_at']).execute();
    },
  };
}
