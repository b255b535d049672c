import { sql, type Kysely } from 'kysely';

/**
 * 017-signals (issue 15): the Shared Signals transmitters Custody receives from (each speaks for
 * one tenant), the SET ids already received (replay refusal, held until a SET with that id would
 * be too old anyway), and the customer approvers who left (approver offboarding).
 */
export function signalsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('ssf_transmitters')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('audience', 'text', (c) => c.notNull())
        // One of the two: where its public keys are published, or the keys themselves (JSON JWK set).
        .addColumn('jwks_url', 'text')
        .addColumn('jwks', 'text')
        // JSON: the JWS algorithms its SETs may use (asymmetric only).
        .addColumn('algorithms', 'text', (c) => c.notNull())
        .addColumn('development', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      // A SET names its transmitter by iss and its receiver by aud: that pair picks one configuration.
      await db.schema.createIndex('ssf_transmitters_issuer_audience').on('ssf_transmitters').columns(['issuer', 'audience']).unique().execute();
      await db.schema.createIndex('ssf_transmitters_tenant').on('ssf_transmitters').columns(['tenant_id', 'id']).execute();

      await db.schema
        .createTable('ssf_received_jtis')
        .addColumn('transmitter_id', 'text', (c) => c.notNull())
        .addColumn('jti', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ssf_received_jtis_pk', ['transmitter_id', 'jti'])
        .execute();
      await db.schema.createIndex('ssf_received_jtis_expiry').on('ssf_received_jtis').column('expires_at').execute();

      await db.schema
        .createTable('inactive_approvers')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        // 'api' (POST /v1/approvers/deactivate) or 'ssf' (a RISC account-disabled / account-purged).
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('deactivated_at', 'text', (c) => c.notNull())
        .addColumn('deactivated_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('inactive_approvers_pk', ['tenant_id', 'issuer', 'subject'])
        .execute();
      // Offboarding finds the tokens an approver approved in a tenant.
      await db.schema.createIndex('tokens_approver').on('tokens').columns(['tenant_id', 'approver_subject']).execute();
      // Email subjects match the approver's email without regard to case; opaque subjects the account.
      await sql`create index tokens_approver_email on tokens (tenant_id, lower(approver_email))`.execute(db);
      await db.schema.createIndex('tokens_tenant_subject').on('tokens').columns(['tenant_id', 'subject']).execute();
    },
  };
}
