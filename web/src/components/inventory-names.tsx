import { useEffect, useState } from 'react';
import { call } from '../api.ts';
import { tenantEndpoints } from '../../../src/tenants/tenant.contract.ts';
import { providerEndpoints } from '../../../src/providers/provider.contract.ts';
import { useCan } from '../ui.tsx';

/**
 * Tenant and provider names for the inventory's filters and columns, loaded once per page view
 * (both lists are small: customers and issuers, not tokens). Ids are shown until they arrive, and
 * stay shown when the role cannot read the list.
 */
export interface Names {
  tenants: { id: string; name: string }[];
  providers: { id: string; name: string }[];
  tenant: (id: string) => string;
  provider: (id: string) => string;
}

export function useNames(): Names {
  const can = useCan();
  const [tenants, setTenants] = useState<{ id: string; name: string }[]>([]);
  const [providers, setProviders] = useState<{ id: string; name: string }[]>([]);
  const readTenants = can('tenants.read');
  const readProviders = can('providers.read');
  useEffect(() => {
    let live = true;
    if (readTenants) call(tenantEndpoints.list).then((r) => live && setTenants(r.items.map((t) => ({ id: t.id, name: t.name }))), () => undefined);
    if (readProviders) call(providerEndpoints.list).then((r) => live && setProviders(r.items.map((p) => ({ id: p.id, name: p.name }))), () => undefined);
    return () => {
      live = false;
    };
  }, [readTenants, readProviders]);
  const tmap = new Map(tenants.map((t) => [t.id, t.name]));
  const pmap = new Map(providers.map((p) => [p.id, p.name]));
  return { tenants, providers, tenant: (id) => tmap.get(id) ?? id, provider: (id) => pmap.get(id) ?? id };
}

/**
 * The options of a tenant picker: tenants sorted by name, a name shared (in any case) by several
 * carrying the id so the list can tell them apart, and the current id kept as an option when the
 * list does not hold it (not loaded yet, or not readable by the role).
 */
export function TenantOptions({ tenants, current }: { tenants: { id: string; name: string }[]; current: string | null | undefined }) {
  const count = new Map<string, number>();
  for (const t of tenants) count.set(t.name.toLowerCase(), (count.get(t.name.toLowerCase()) ?? 0) + 1);
  const sorted = [...tenants].sort((a, b) => a.name.localeCompare(b.name, 'en', { sensitivity: 'base' }) || a.id.localeCompare(b.id));
  return (
    <>
      {sorted.map((t) => (
        <option key={t.id} value={t.id}>
          {count.get(t.name.toLowerCase())! > 1 ? `${t.name} (${t.id})` : t.name}
        </option>
      ))}
      {current && !tenants.some((t) => t.id === current) ? <option value={current}>{current}</option> : null}
    </>
  );
}
