import { importJWK, type JWK } from 'jose';
import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { SsfTransmittersTable } from '../storage/schema.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { CreateTransmitterInput, PatchTransmitterInput, SetAlgorithm, Transmitter } from './transmitter.contract.ts';
import { checkTransmitterKeys, DEFAULT_ALGORITHMS } from './transmitter.rules.ts';

type JwkSet = { keys: JWK[] };

export function toTransmitter(r: SsfTransmittersTable): Transmitter {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    issuer: r.issuer,
    audience: r.audience,
    jwksUrl: r.jwks_url,
    jwks: r.jwks === null ? null : (JSON.parse(r.jwks) as Transmitter['jwks']),
    algorithms: JSON.parse(r.algorithms) as SetAlgorithm[],
    development: r.development === 1,
    enabled: r.enabled === 1,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
  };
}

/**
 * The Shared Signals transmitters Custody trusts (platform staff configure them: each can suspend
 * and revoke its tenant's tokens). Every change is ledgered in its transaction; a transmitter is
 * disabled, never deleted, so the ledger's `signal.*` entries keep naming a configuration that exists.
 */
export function createTransmitterService(deps: { storage: Storage; ledger: LedgerService; clock: Clock; tenants: TenantService; production: boolean }) {
  const { storage, ledger, clock } = deps;

  async function checkKeys(input: { jwksUrl: string | null; jwks: JwkSet | null; algorithms: readonly SetAlgorithm[]; development: boolean }): Promise<void> {
    const problems = checkTransmitterKeys(input as Parameters<typeof checkTransmitterKeys>[0], deps.production);
    // Each inline key must be a key jose can use (a malformed modulus is refused now, not at the first SET).
    if (input.jwks && problems.length === 0) {
      for (const [i, k] of input.jwks.keys.entries()) {
        try {
          await importJWK(k, k.alg ?? input.algorithms.find((a) => (k.kty === 'RSA' ? a.startsWith('RS') || a.startsWith('PS') : k.kty === 'EC' ? a.startsWith('ES') : a === 'EdDSA')));
        } catch (err) {
          problems.push({ path: `body/jwks/keys/${i}`, message: `is not a usable public key (${(err as Error).message.slice(0, 200)})` });
        }
      }
    }
    if (problems.length > 0) throw new CustodyError('transmitter_invalid', undefined, problems);
  }

  async function row(db: Db, id: string): Promise<SsfTransmittersTable> {
    const r = await db.selectFrom('ssf_transmitters').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new CustodyError('transmitter_not_found');
    return r;
  }

  return {
    async list(tenantId: string | undefined): Promise<Transmitter[]> {
      let q = storage.db.selectFrom('ssf_transmitters').selectAll().orderBy('id');
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      return (await q.limit(1_000).execute()).map(toTransmitter);
    },
    get: async (id: string): Promise<Transmitter> => toTransmitter(await row(storage.db, id)),

    async create(principal: Principal, input: CreateTransmitterInput): Promise<Transmitter> {
      await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      const algorithms = input.algorithms ?? [...DEFAULT_ALGORITHMS];
      const keys = { jwksUrl: input.jwksUrl ?? null, jwks: (input.jwks as JwkSet | undefined) ?? null, algorithms, development: input.development ?? false };
      await checkKeys(keys);
      const now = clock.now().toISOString();
      const r: SsfTransmittersTable = {
        id: newId('transmitter', clock.now().getTime()),
        tenant_id: input.tenantId,
        name: input.name,
        issuer: input.issuer,
        audience: input.audience,
        jwks_url: keys.jwksUrl,
        jwks: keys.jwks === null ? null : JSON.stringify(keys.jwks),
        algorithms: JSON.stringify(algorithms),
        development: keys.development ? 1 : 0,
        enabled: 1,
        created_at: now,
        created_by: principal.actor,
        updated_at: now,
      };
      try {
        await storage.db.transaction().execute(async (trx) => {
          await trx.insertInto('ssf_transmitters').values(r).execute();
          await ledger.append(trx, {
            actor: principal.actor,
            action: 'ssf.transmitter_created',
            tenantId: r.tenant_id,
            subjectId: r.id,
            data: { name: r.name, issuer: r.issuer, audience: r.audience, jwksUrl: r.jwks_url, keyIds: keys.jwks?.keys.map((k) => k.kid ?? null) ?? null, algorithms, development: keys.development },
          });
        });
      } catch (err) {
        if (storage.dialect.isUniqueViolation(err)) throw new CustodyError('transmitter_exists');
        throw err;
      }
      return toTransmitter(r);
    },

    async patch(principal: Principal, id: string, input: PatchTransmitterInput): Promise<Transmitter> {
      return storage.db.transaction().execute(async (trx) => {
        const current = await row(trx, id);
        const next = {
          jwksUrl: input.jwksUrl !== undefined ? input.jwksUrl : current.jwks_url,
          jwks: input.jwks !== undefined ? (input.jwks as JwkSet | null) : current.jwks === null ? null : (JSON.parse(current.jwks) as JwkSet),
          algorithms: input.algorithms ?? (JSON.parse(current.algorithms) as SetAlgorithm[]),
          development: current.development === 1,
        };
        // A key change replaces the source: naming one of the two clears the other.
        if (input.jwksUrl && input.jwks === undefined) next.jwks = null;
        if (input.jwks && input.jwksUrl === undefined) next.jwksUrl = null;
        if (input.jwksUrl !== undefined || input.jwks !== undefined || input.algorithms !== undefined) await checkKeys(next);
        const changes: Partial<SsfTransmittersTable> = {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.enabled !== undefined ? { enabled: input.enabled ? 1 : 0 } : {}),
          jwks_url: next.jwksUrl,
          jwks: next.jwks === null ? null : JSON.stringify(next.jwks),
          algorithms: JSON.stringify(next.algorithms),
          updated_at: clock.now().toISOString(),
        };
        await trx.updateTable('ssf_transmitters').set(changes).where('id', '=', id).execute();
        const { reason, ...fields } = input;
        await ledger.append(trx, {
          actor: principal.actor,
          action: input.enabled === false ? 'ssf.transmitter_disabled' : input.enabled === true && current.enabled === 0 ? 'ssf.transmitter_enabled' : 'ssf.transmitter_changed',
          tenantId: current.tenant_id,
          subjectId: id,
          data: { changed: Object.keys(fields), ...(fields.jwks ? { keyIds: fields.jwks.keys.map((k) => k.kid ?? null) } : {}), ...(fields.jwksUrl !== undefined ? { jwksUrl: fields.jwksUrl } : {}), reason: reason ?? null },
        });
        return toTransmitter(await row(trx, id));
      });
    },

    /** The enabled and disabled transmitters that state this issuer (the receiver picks by audience). */
    async byIssuer(issuer: string): Promise<SsfTransmittersTable[]> {
      return storage.db.selectFrom('ssf_transmitters').selectAll().where('issuer', '=', issuer).orderBy('id').limit(100).execute();
    },
  };
}

export type TransmitterService = ReturnType<typeof createTransmitterService>;
