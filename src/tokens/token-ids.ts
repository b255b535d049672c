import type { Db } from '../storage/database.ts';

/**
 * The ids (and tenants) of tokens, a page at a time in id order: for readers that walk a tenant's
 * or the platform's tokens to look something up per token (the usage summary), without loading
 * records. Read through the primary key or `tokens_tenant_id (tenant_id, id)`.
 */
export async function tokenIdsPage(db: Db, q: { tenantId: string | null; afterId: string; limit: number }): Promise<{ id: string; tenantId: string }[]> {
  let page = db.selectFrom('tokens').select(['id', 'tenant_id']).where('id', '>', q.afterId);
  if (q.tenantId) page = page.where('tenant_id', '=', q.tenantId);
  const rows = await page.orderBy('id').limit(q.limit).execute();
  return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id }));
}
