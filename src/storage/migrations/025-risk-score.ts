import { sql, type Kysely } from 'kysely';

/**
 * 025-risk-score (issue 16): each live token's risk score (0–100, src/governance/risk.rules.ts),
 * the components it was added up from (JSON), and a digest of what those were made from (the sweep
 * compares the digest instead of reading and rebuilding ~1 KB of text per token), written by the
 * governance evaluation (the change path and the sweep) only when they change; null until the token
 * is first evaluated, and again once it is revoked or expired (it holds no privilege).
 *
 * Cheap on a large database: three columns without a default (no row is rewritten) and two partial
 * indexes over scored tokens only, which are empty when they are created. They serve the inventory
 * sorted by risk (`ORDER BY risk_score DESC, id`), over every tenant and within one, and the
 * `minRisk`/`maxRisk` filters, as index ranges.
 */
export function riskScoreMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('tokens').addColumn('risk_score', 'integer').execute();
      await db.schema.alterTable('tokens').addColumn('risk_components', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('risk_digest', 'text').execute();
      await db.schema.createIndex('tokens_risk').on('tokens').columns(['risk_score desc', 'id']).where(sql.ref('risk_score'), 'is not', null).execute();
      await db.schema.createIndex('tokens_tenant_risk').on('tokens').columns(['tenant_id', 'risk_score desc', 'id']).where(sql.ref('risk_score'), 'is not', null).execute();
    },
  };
}
