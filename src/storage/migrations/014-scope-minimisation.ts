import type { Kysely } from 'kysely';

/**
 * Scope minimisation (issue 14): a provider's scope catalogue (each scope's sensitivity); on
 * tokens, what the issuer granted beyond what the last consent asked for, what the live access
 * token holds after a narrowing refresh (null: the same as granted), and the granted scopes a
 * gateway call wanted while they were narrowed away (a small JSON set, written only when new).
 */
export function scopeMinimisationMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('providers').addColumn('scope_catalogue', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      await db.schema.alterTable('tokens').addColumn('excess_scopes', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('effective_scopes', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('wanted_scopes', 'text').execute();
    },
  };
}
