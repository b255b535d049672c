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
