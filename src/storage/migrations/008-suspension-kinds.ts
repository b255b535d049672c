import type { Kysely } from 'kysely';

/**
 * Who may lift a suspension (issue 12): a suspension records its kind, and a consent flow (and
 * the link that started it) the role of whoever started it, so a customer's consent cannot undo
 * the security team's suspension. And a provider's flag for ';' path parameters.
 */
export function suspensionKindsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('tokens').addColumn('suspension_kind', 'text').execute();
      await db.schema.alterTable('oauth_flows').addColumn('started_by_role', 'text').execute();
      await db.schema.alterTable('connect_links').addColumn('created_by_role', 'text').execute();
      // Gateway strictness: ';' path parameters are refused unless a provider's API uses them.
      await db.schema.alterTable('providers').addColumn('allow_path_parameters', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  };
}
