import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { call } from '../api.ts';
import { apiKeyEndpoints } from '../../../src/apikeys/apikey.contract.ts';
import { useCan } from '../ui.tsx';

/**
 * Who a ledger entry names, as a person reads it: an `apikey:key_…` actor shown by the key's name
 * and role when the signed-in role may list keys (admin), the actor as the ledger has it otherwise
 * (and always in the title, for copying). Keys are listed once per page view.
 */
const KeyNames = createContext<Map<string, { name: string; role: string }> | null>(null);

export function ActorNames({ children }: { children: ReactNode }) {
  const can = useCan();
  const allowed = can('apikeys.manage');
  const [names, setNames] = useState<Map<string, { name: string; role: string }> | null>(null);
  useEffect(() => {
    if (!allowed) return;
    let live = true;
    call(apiKeyEndpoints.list).then(
      (r) => live && setNames(new Map(r.items.map((k) => [k.id, { name: k.name, role: k.role }]))),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [allowed]);
  return <KeyNames.Provider value={names}>{children}</KeyNames.Provider>;
}

export function Actor({ actor }: { actor: string }) {
  const names = useContext(KeyNames);
  const key = actor.startsWith('apikey:') ? names?.get(actor.slice('apikey:'.length)) : undefined;
  if (key) {
    return (
      <span title={actor}>
        {key.name} <span className="muted">({key.role} key)</span>
      </span>
    );
  }
  return <span title={actor}>{actor}</span>;
}
