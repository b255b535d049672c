import { sql, type Kysely } from 'kysely';

/**
 * Governance I (issue 13): versioned policies (global and per-tenant overrides), the owners and
 * workloads directories, findings (one live row per subject and type: the partial unique index is
 * what "never duplicated" rests on), time-boxed exceptions; on tokens, whether their use passes
 * through the gateway (`usage_channel`) and the tenants a token serves; per-workload last use.
 */
export function governanceMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('policies')
        // 'global', or the id of the tenant whose override it is.
        .addColumn('scope', 'text', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('owners')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('contact', 'text')
        .addColumn('active', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('workloads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id'))
        // tenant_id, or '*' for a platform-wide workload: unique with the name (NULLs would not be).
        .addColumn('scope_key', 'text', (c) => c.notNull())
        .addColumn('owner', 'text')
        .addColumn('purpose', 'text')
        .addColumn('active', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('workloads_name_scope').on('workloads').columns(['name', 'scope_key']).unique().execute();
      await db.schema.createIndex('workloads_owner').on('workloads').column('owner').execute();

      await db.schema
        .createTable('findings')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        // The token, or the workload, the finding is about.
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text')
        .addColumn('workload_id', 'text')
        .addColumn('tenant_id', 'text')
        .addColumn('first_seen_at', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text', (c) => c.notNull())
        .addColumn('resolved_at', 'text')
        .addColumn('reasons', 'text', (c) => c.notNull())
        // A digest of severity and reasons: a sweep compares it instead of reading the reasons.
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('exception_id', 'text')
        .addColumn('acknowledged_at', 'text')
        .addColumn('acknowledged_by', 'text')
        .addColumn('acknowledged_reason', 'text')
        // Audit mode: the would-be action last written to the ledger for this finding (once, not every sweep).
        .addColumn('planned_action', 'text')
        .execute();
      await db.schema
        .createIndex('findings_live_subject_type')
        .on('findings')
        .columns(['subject_id', 'type'])
        .unique()
        .where(sql.ref('resolved_at'), 'is', null)
        .execute();
      // Listing live findings (the default) by tenant, type or severity, in id order, reads one range
      // of one of these; a status filter (resolved ones among them) and the counts by type read the
      // last. Each serves a page without scanning every live finding.
      const live = (name: string, columns: string[]) => db.schema.createIndex(name).on('findings').columns(columns).where(sql.ref('resolved_at'), 'is', null).execute();
      await live('findings_live_tenant', ['tenant_id', 'id']);
      await live('findings_live_type', ['type', 'id']);
      await live('findings_live_severity', ['severity', 'id']);
      await db.schema.createIndex('findings_status_type').on('findings').columns(['status', 'type', 'id']).execute();
      await db.schema.createIndex('findings_token').on('findings').column('token_id').execute();

      // Each sweep's outcome: a live finding was confirmed by every sweep that finished after it was
      // seen (its lastSeenAt is the latest such sweep's start), so a sweep writes only what changed.
      await db.schema
        .createTable('governance_sweeps')
        .addColumn('started_at', 'text', (c) => c.primaryKey())
        .addColumn('finished_at', 'text', (c) => c.notNull())
        .addColumn('result', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('finding_exceptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('token_id', 'text')
        .addColumn('finding_type', 'text', (c) => c.notNull())
        .addColumn('approved_by', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('withdrawn_at', 'text')
        .addColumn('withdrawn_by', 'text')
        .execute();
      await db.schema.createIndex('finding_exceptions_tenant').on('finding_exceptions').columns(['tenant_id', 'expires_at']).execute();

      await db.schema.alterTable('tokens').addColumn('usage_channel', 'text', (c) => c.notNull().defaultTo('gateway')).execute();
      await db.schema.alterTable('tokens').addColumn('served_tenants', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      // When the access token in force was issued (its lifetime is judged against the policy).
      await db.schema.alterTable('tokens').addColumn('access_issued_at', 'text').execute();

      await db.schema
        .createTable('token_workload_usage')
        .addColumn('token_id', 'text', (c) => c.notNull().references('tokens.id'))
        .addColumn('workload', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('token_workload_usage_pk', ['token_id', 'workload'])
        .execute();
    },
  };
}
