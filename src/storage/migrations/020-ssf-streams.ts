import type { Kysely } from 'kysely';

/**
 * 020-ssf-streams (issue 15): the Shared Signals transmitter's streams, one row per receiver a
 * tenant registered (src/streams). The receiver's Authorization header value is kept encrypted
 * under the stream's own data key; the counters say what became of the events sent to it.
 */
export function ssfStreamsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('ssf_streams')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        // enabled | paused | disabled (SSF 1.0 stream status), with the reason last given.
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('status_reason', 'text')
        .addColumn('endpoint_url', 'text', (c) => c.notNull())
        .addColumn('authorization_enc', 'text')
        .addColumn('audience', 'text', (c) => c.notNull())
        // JSON arrays of event-type URIs: what the receiver asked for, and the subset sent.
        .addColumn('events_requested', 'text', (c) => c.notNull())
        .addColumn('events_delivered', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        // Events in the outbox for this stream (held while paused); bounded, the excess dropped and counted.
        .addColumn('pending_events', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('delivered_events', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('dropped_events', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_delivered_at', 'text')
        .addColumn('last_error', 'text')
        .addColumn('last_verification_at', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      // A revocation looks up its tenant's streams in its own transaction: one indexed read.
      await db.schema.createIndex('ssf_streams_tenant').on('ssf_streams').columns(['tenant_id', 'id']).execute();
    },
  };
}
