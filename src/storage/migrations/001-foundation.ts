import { sql, type Kysely } from 'kysely';
import type { StorageDialect } from '../dialect.ts';

/** Tenants, providers, tokens, API keys, data keys, key rotations and the ledger. */
export function foundationMigration(dialect: StorageDialect) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('providers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('issuer', 'text')
        .addColumn('authorization_endpoint', 'text')
        .addColumn('token_endpoint', 'text', (c) => c.notNull())
        .addColumn('revocation_endpoint', 'text')
        .addColumn('introspection_endpoint', 'text')
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('client_secret_enc', 'text')
        .addColumn('api_base_urls', 'text', (c) => c.notNull())
        .addColumn('scope_rules', 'text', (c) => c.notNull())
        .addColumn('revocation_verified_at', 'text')
        .addColumn('development', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('allow_private_network', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('unmapped_calls', 'text', (c) => c.notNull().defaultTo('deny'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('provider_id', 'text', (c) => c.notNull().references('providers.id'))
        .addColumn('subject', 'text')
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('approver_subject', 'text')
        .addColumn('approver_email', 'text')
        .addColumn('approver_issuer', 'text')
        .addColumn('approved_at', 'text')
        .addColumn('approver_active', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('purpose', 'text')
        .addColumn('review_due_at', 'text')
        .addColumn('workloads', 'text', (c) => c.notNull())
        .addColumn('granted_scopes', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('state_reason', 'text')
        .addColumn('state_actor', 'text')
        .addColumn('state_changed_at', 'text', (c) => c.notNull())
        .addColumn('issued_at', 'text', (c) => c.notNull())
        .addColumn('access_expires_at', 'text')
        .addColumn('refresh_expires_at', 'text')
        .addColumn('last_used_at', 'text')
        .addColumn('last_used_by', 'text')
        .addColumn('access_token_enc', 'text', (c) => c.notNull())
        .addColumn('refresh_token_enc', 'text')
        .addColumn('access_fp', 'text', (c) => c.notNull())
        .addColumn('refresh_fp', 'text')
        .addColumn('predecessor_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tokens_tenant_id').on('tokens').columns(['tenant_id', 'id']).execute();
      await db.schema.createIndex('tokens_provider_id').on('tokens').columns(['provider_id', 'id']).execute();
      await db.schema.createIndex('tokens_state_id').on('tokens').columns(['state', 'id']).execute();
      await db.schema.createIndex('tokens_owner_id').on('tokens').columns(['owner', 'id']).execute();
      await db.schema.createIndex('tokens_access_fp').on('tokens').column('access_fp').execute();
      await db.schema.createIndex('tokens_refresh_fp').on('tokens').column('refresh_fp').execute();

      await db.schema
        .createTable('token_scope_usage')
        .addColumn('token_id', 'text', (c) => c.notNull().references('tokens.id'))
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('token_scope_usage_pk', ['token_id', 'scope'])
        .execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id'))
        .addColumn('workload', 'text')
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .addColumn('last_used_at', 'text')
        .execute();

      await db.schema
        .createTable('data_keys')
        .addColumn('owner_id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('kek_version', 'integer', (c) => c.notNull())
        .addColumn('wrapped', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('rewrapped_at', 'text')
        .execute();
      await db.schema.createIndex('data_keys_kek_version').on('data_keys').columns(['kek_version', 'owner_id']).execute();

      await db.schema
        .createTable('key_rotations')
        .addColumn('id', 'integer', (c) => (dialect.kind === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement()))
        .addColumn('target_version', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('completed_at', 'text')
        .addColumn('rewrapped', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();

      await db.schema
        .createTable('ledger_entries')
        .addColumn('seq', dialect.sequenceType, (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('subject_id', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ledger_subject').on('ledger_entries').columns(['subject_id', 'seq']).execute();
      await db.schema.createIndex('ledger_tenant').on('ledger_entries').columns(['tenant_id', 'seq']).execute();

      await db.schema
        .createTable('ledger_checkpoints')
        .addColumn('seq', dialect.sequenceType, (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .execute();

      for (const table of ['ledger_entries', 'ledger_checkpoints']) {
        for (const statement of dialect.appendOnlyGuards(table)) await sql.raw(statement).execute(db);
      }
    },
  };
}
