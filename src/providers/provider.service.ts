import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { ProvidersTable } from '../storage/schema.ts';
import { GLOBAL_SCOPE, type Vault } from '../vault/vault.service.ts';
import { checkProviderUrls } from './provider.rules.ts';
import type { CreateProviderInput, DiscoverIssuer, DiscoveredProvider, ProviderAccessView, ProviderRecord, ScopeCatalogueEntry, ScopeRule, UpdateProviderInput } from './provider.types.ts';

export function toProviderRecord(r: ProvidersTable): ProviderRecord {
  return {
    id: r.id,
    name: r.name,
    issuer: r.issuer,
    authorizationEndpoint: r.authorization_endpoint,
    tokenEndpoint: r.token_endpoint,
    revocationEndpoint: r.revocation_endpoint,
    introspectionEndpoint: r.introspection_endpoint,
    clientId: r.client_id,
    hasClientSecret: r.client_secret_enc !== null,
    apiBaseUrls: JSON.parse(r.api_base_urls) as string[],
    scopeRules: JSON.parse(r.scope_rules) as ScopeRule[],
    scopeCatalogue: scopeCatalogueOf(r),
    unmappedCalls: r.unmapped_calls,
    development: r.development === 1,
    allowPrivateNetwork: r.allow_private_network === 1,
    allowPathParameters: r.allow_path_parameters === 1,
    revocation: { supported: r.revocation_endpoint !== null, verified: r.revocation_endpoint !== null && r.revocation_verified_at !== null, verifiedAt: r.revocation_verified_at },
    supports: supportsOf(r),
    discoveredAt: r.discovered_at ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The provider's declared scopes ([]: none declared). */
export function scopeCatalogueOf(r: Pick<ProvidersTable, 'scope_catalogue'>): ScopeCatalogueEntry[] {
  return JSON.parse(r.scope_catalogue ?? '[]') as ScopeCatalogueEntry[];
}

function supportsOf(r: ProvidersTable): ProviderRecord['supports'] {
  const meta = JSON.parse(r.metadata ?? '{}') as { code_challenge_methods_supported?: string[] };
  return {
    pkceS256: meta.code_challenge_methods_supported ? meta.code_challenge_methods_supported.includes('S256') : null,
    refreshRotation: r.refresh_rotation === null || r.refresh_rotation === undefined ? null : r.refresh_rotation === 1,
    revocation: r.revocation_endpoint !== null,
    introspection: r.introspection_endpoint !== null,
  };
}

/** Providers are platform-wide configuration (admin only to change), visible to every reading role. */
export function createProviderService(deps: { storage: Storage; vault: Vault; ledger: LedgerService; clock: Clock; discover?: DiscoverIssuer }) {
  const { storage, vault, ledger, clock } = deps;
  // Whoever caches what a provider allows (the gateway) hears of every change: in its transaction
  // (a cross-instance notification), and once it has committed.
  const changeHooks: ((trx: Db, providerId: string) => Promise<void>)[] = [];
  const committedListeners: ((providerId: string) => void)[] = [];

  /** The provider's URLs and rules as they would be after `input`, checked like a new one. */
  function checkUpdated(current: ProvidersTable, input: UpdateProviderInput) {
    const pick = <T>(value: T | null | undefined, fallback: T | null): T | undefined => (value === undefined ? (fallback ?? undefined) : (value ?? undefined));
    return checkProviderUrls({
      name: input.name ?? current.name,
      clientId: input.clientId ?? current.client_id,
      issuer: current.issuer ?? undefined,
      authorizationEndpoint: pick(input.authorizationEndpoint, current.authorization_endpoint),
      tokenEndpoint: input.tokenEndpoint ?? current.token_endpoint,
      revocationEndpoint: pick(input.revocationEndpoint, current.revocation_endpoint),
      introspectionEndpoint: pick(input.introspectionEndpoint, current.introspection_endpoint),
      apiBaseUrls: input.apiBaseUrls ?? (JSON.parse(current.api_base_urls) as string[]),
      scopeRules: input.scopeRules ?? (JSON.parse(current.scope_rules) as ScopeRule[]),
      scopeCatalogue: input.scopeCatalogue ?? scopeCatalogueOf(current),
      development: input.development ?? current.development === 1,
    });
  }

  /** Endpoints given explicitly win over discovered ones; discovery fills the gaps. */
  async function withDiscovery(input: CreateProviderInput): Promise<{ input: CreateProviderInput; discovered: DiscoveredProvider | null }> {
    if (!input.issuer || !deps.discover) return { input, discovered: null };
    let discovered: DiscoveredProvider;
    try {
      discovered = await deps.discover(input.issuer, { allowHttp: input.development === true });
    } catch (err) {
      throw new CustodyError('discovery_failed', `Discovery of ${input.issuer} failed: ${(err as Error).message}. Check the issuer URL, or give the endpoints explicitly.`);
    }
    const merged: CreateProviderInput = { ...input };
    const fill = (key: 'authorizationEndpoint' | 'tokenEndpoint' | 'revocationEndpoint' | 'introspectionEndpoint', value: string | null) => {
      if (merged[key] === undefined && value !== null) merged[key] = value;
    };
    fill('authorizationEndpoint', discovered.authorizationEndpoint);
    fill('tokenEndpoint', discovered.tokenEndpoint);
    fill('revocationEndpoint', discovered.revocationEndpoint);
    fill('introspectionEndpoint', discovered.introspectionEndpoint);
    return { input: merged, discovered };
  }

  async function findRow(db: Db, id: string): Promise<ProvidersTable> {
    const row = await db.selectFrom('providers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new CustodyError('provider_not_found');
    return row;
  }

  return {
    findRow,
    /** For caches of providers (the gateway): a change, inside its transaction. */
    onChange(hook: (trx: Db, providerId: string) => Promise<void>) {
      changeHooks.push(hook);
    },
    /** For caches of providers: a change has committed. */
    onCommittedChange(listener: (providerId: string) => void) {
      committedListeners.push(listener);
    },

    async update(principal: Principal, id: string, input: UpdateProviderInput): Promise<ProviderRecord> {
      let changed = false;
      try {
        await storage.db.transaction().execute(async (trx) => {
          // Read and checked under the row's lock: two changes at once cannot each pass the checks
          // against the old values and together make a provider neither would have been allowed.
          const current = await storage.dialect.forUpdate(trx.selectFrom('providers').selectAll().where('id', '=', id)).executeTakeFirst();
          if (!current) throw new CustodyError('provider_not_found');
          const problems = checkUpdated(current, input);
          if (problems.length > 0) throw new CustodyError('validation_failed', `The provider is not valid: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, problems);
          const set: Partial<ProvidersTable> = {};
          const diff: Record<string, { from: unknown; to: unknown }> = {};
          const columns = {
            name: 'name',
            authorizationEndpoint: 'authorization_endpoint',
            tokenEndpoint: 'token_endpoint',
            revocationEndpoint: 'revocation_endpoint',
            introspectionEndpoint: 'introspection_endpoint',
            clientId: 'client_id',
          } as const;
          for (const [field, column] of Object.entries(columns) as [keyof typeof columns, (typeof columns)[keyof typeof columns]][]) {
            const to = input[field];
            if (to !== undefined && to !== current[column]) {
              (set as Record<string, unknown>)[column] = to;
              diff[field] = { from: current[column], to };
            }
          }
          const json = { apiBaseUrls: 'api_base_urls', scopeRules: 'scope_rules', scopeCatalogue: 'scope_catalogue' } as const;
          for (const [field, column] of Object.entries(json) as [keyof typeof json, (typeof json)[keyof typeof json]][]) {
            if (input[field] === undefined) continue;
            const to = JSON.stringify(input[field]);
            if (to !== (current[column] ?? '[]')) {
              set[column] = to;
              diff[field] = { from: JSON.parse(current[column] ?? '[]'), to: input[field] };
            }
          }
          if (input.unmappedCalls !== undefined && input.unmappedCalls !== current.unmapped_calls) {
            set.unmapped_calls = input.unmappedCalls;
            diff.unmappedCalls = { from: current.unmapped_calls, to: input.unmappedCalls };
          }
          const flags = { development: 'development', allowPrivateNetwork: 'allow_private_network', allowPathParameters: 'allow_path_parameters' } as const;
          for (const [field, column] of Object.entries(flags) as [keyof typeof flags, (typeof flags)[keyof typeof flags]][]) {
            const to = input[field];
            if (to !== undefined && (to ? 1 : 0) !== current[column]) {
              set[column] = to ? 1 : 0;
              diff[field] = { from: current[column] === 1, to };
            }
          }
          // A new revocation endpoint has not been shown to work: it is verified afresh.
          if (set.revocation_endpoint !== undefined && current.revocation_verified_at !== null) {
            set.revocation_verified_at = null;
            diff.revocationVerified = { from: true, to: false };
          }
          if (input.clientSecret !== undefined) {
            if (input.clientSecret === null) {
              if (current.client_secret_enc !== null) {
                set.client_secret_enc = null;
                diff.clientSecret = { from: 'set', to: 'removed' };
              }
            } else {
              const key = await vault.ensureDataKey(trx, GLOBAL_SCOPE, id, clock.now());
              set.client_secret_enc = vault.encrypt(key, 'client_secret', new Secret(input.clientSecret));
              diff.clientSecret = { from: current.client_secret_enc === null ? 'none' : 'set', to: 'replaced' };
            }
          }
          if (Object.keys(diff).length === 0) return;
          set.updated_at = clock.now().toISOString();
          await trx.updateTable('providers').set(set).where('id', '=', id).execute();
          await ledger.append(trx, { actor: principal.actor, action: 'provider.updated', subjectId: id, data: { changes: diff } });
          for (const hook of changeHooks) await hook(trx, id);
          changed = true;
        });
      } catch (err) {
        if (input.name !== undefined && storage.dialect.isUniqueViolation(err)) throw new CustodyError('provider_exists', `A provider named "${input.name}" already exists.`);
        throw err;
      }
      if (changed) for (const listener of committedListeners) listener(id);
      return toProviderRecord(await findRow(storage.db, id));
    },

    async create(principal: Principal, given: CreateProviderInput): Promise<ProviderRecord> {
      // Refuse a plain-http issuer before talking to it at all.
      const early = checkProviderUrls(given);
      if (early.length > 0) throw new CustodyError('validation_failed', `The provider is not valid: ${early.map((p) => `${p.path} ${p.message}`).join('; ')}`, early);
      const { input, discovered } = await withDiscovery(given);
      const problems = checkProviderUrls(input);
      if (input.tokenEndpoint === undefined) problems.push({ path: 'body/tokenEndpoint', message: 'is required (or give an issuer whose discovery document names it)' });
      if (problems.length > 0) throw new CustodyError('validation_failed', `The provider is not valid: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, problems);
      const now = clock.now().toISOString();
      const id = newId('provider');
      try {
        const row = await storage.db.transaction().execute(async (trx) => {
          let secretEnc: string | null = null;
          if (input.clientSecret !== undefined) {
            const key = await vault.createDataKey(trx, GLOBAL_SCOPE, id, clock.now());
            secretEnc = vault.encrypt(key, 'client_secret', new Secret(input.clientSecret));
          }
          const row: ProvidersTable = {
            id,
            name: input.name,
            issuer: input.issuer ?? null,
            authorization_endpoint: input.authorizationEndpoint ?? null,
            token_endpoint: input.tokenEndpoint!,
            revocation_endpoint: input.revocationEndpoint ?? null,
            introspection_endpoint: input.introspectionEndpoint ?? null,
            client_id: input.clientId,
            client_secret_enc: secretEnc,
            api_base_urls: JSON.stringify(input.apiBaseUrls),
            scope_rules: JSON.stringify(input.scopeRules ?? []),
            scope_catalogue: JSON.stringify(input.scopeCatalogue ?? []),
            revocation_verified_at: null,
            development: input.development ? 1 : 0,
            allow_private_network: input.allowPrivateNetwork ? 1 : 0,
            allow_path_parameters: input.allowPathParameters ? 1 : 0,
            unmapped_calls: input.unmappedCalls ?? 'deny',
            created_at: now,
            updated_at: now,
            metadata: JSON.stringify(discovered?.metadata ?? {}),
            refresh_rotation: null,
            discovered_at: discovered ? now : null,
          };
          await trx.insertInto('providers').values(row).execute();
          const record = toProviderRecord(row);
          await ledger.append(trx, {
            actor: principal.actor,
            action: 'provider.registered',
            subjectId: id,
            data: {
              name: record.name,
              issuer: record.issuer,
              tokenEndpoint: record.tokenEndpoint,
              revocationEndpoint: record.revocationEndpoint,
              apiBaseUrls: record.apiBaseUrls,
              hasClientSecret: record.hasClientSecret,
              discovered: discovered !== null,
              supports: record.supports,
              ...(record.scopeCatalogue.length > 0 ? { scopeCatalogue: record.scopeCatalogue } : {}),
            },
          });
          return row;
        });
        return toProviderRecord(row);
      } catch (err) {
        if (storage.dialect.isUniqueViolation(err)) throw new CustodyError('provider_exists', `A provider named "${input.name}" already exists.`);
        throw err;
      }
    },
    async list(): Promise<ProviderRecord[]> {
      return (await storage.db.selectFrom('providers').selectAll().orderBy('id').execute()).map(toProviderRecord);
    },
    async get(id: string): Promise<ProviderRecord> {
      return toProviderRecord(await findRow(storage.db, id));
    },
    /**
     * The first confirmed upstream revocation (introspection says inactive) verifies the
     * provider's revocation path; ledgered once. Runs in the transaction that records the outcome.
     */
    async markRevocationVerified(trx: Db, id: string, at: string, byToken: string): Promise<void> {
      const r = await trx.updateTable('providers').set({ revocation_verified_at: at }).where('id', '=', id).where('revocation_verified_at', 'is', null).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) {
        await ledger.append(trx, { actor: 'system:outbox', action: 'provider.revocation_verified', subjectId: id, data: { byToken } });
      }
    },
    /** Refresh-token rotation is learned from what the issuer does, and shown on the provider. */
    async noteRefreshRotation(trx: Db, id: string, rotated: boolean): Promise<void> {
      await trx.updateTable('providers').set({ refresh_rotation: rotated ? 1 : 0 }).where('id', '=', id).execute();
    },
    /** What the gateway needs of a provider to forward a call; null when there is none. */
    async accessView(id: string): Promise<ProviderAccessView | null> {
      const r = await storage.db
        .selectFrom('providers')
        .select(['id', 'api_base_urls', 'scope_rules', 'unmapped_calls', 'allow_private_network', 'allow_path_parameters', 'updated_at'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!r) return null;
      return {
        id: r.id,
        apiBaseUrls: JSON.parse(r.api_base_urls) as string[],
        scopeRules: JSON.parse(r.scope_rules) as ScopeRule[],
        unmappedCalls: r.unmapped_calls,
        allowPrivateNetwork: r.allow_private_network === 1,
        allowPathParameters: r.allow_path_parameters === 1,
        updatedAt: r.updated_at,
      };
    },
    /** The provider's client secret, for the OAuth client only. */
    async clientSecret(id: string): Promise<Secret | null> {
      const row = await findRow(storage.db, id);
      if (row.client_secret_enc === null) return null;
      const key = await vault.loadDataKey(storage.db, GLOBAL_SCOPE, id);
      return vault.decrypt(key, 'client_secret', row.client_secret_enc);
    },
  };
}

export type ProviderService = ReturnType<typeof createProviderService>;
