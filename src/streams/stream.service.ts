import { randomUUID } from 'node:crypto';
import { canSeeTenant, type Principal } from '../auth/roles.ts';
import { pushTargetProblem } from '../gateway/push-target.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import { LANE, type OutboxEnqueuer } from '../outbox/outbox.enqueue.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { SsfStreamsTable } from '../storage/schema.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { TokenStateChange } from '../tokens/token.service.ts';
import type { Vault } from '../vault/vault.service.ts';
import { EVENT_URI, EVENTS_SUPPORTED, eventForTransition, eventsDelivered, initiatingEntity, PUSH_DELIVERY, type PushPayload } from './ssf.events.ts';
import type { SsfKeys } from './ssf.signer.ts';
import type { CreateStreamInput, StreamConfig, StreamStatus, UpdateStreamInput } from './stream.contract.ts';
import { createStreamRepo, type StreamRow } from './stream.repo.ts';

/** Streams a tenant may have: one receiver each for a few systems (its IdP, its SIEM, a test one). */
export const MAX_STREAMS_PER_TENANT = 3;
/** SETs a stream may have waiting (held while paused, or retried while its receiver is down); past it they are dropped and counted. */
export const MAX_PENDING_PER_STREAM = 50_000;
/** Seconds between two verification requests on a stream (SSF min_verification_interval). */
export const MIN_VERIFICATION_INTERVAL_S = 60;

export interface StreamServiceDeps {
  storage: Storage;
  vault: Vault;
  ledger: LedgerService;
  tenants: TenantService;
  clock: Clock;
  keys: SsfKeys;
  enqueue: OutboxEnqueuer;
  /** CUSTODY_PUBLIC_URL: the transmitter's issuer and the base of its endpoints. */
  publicUrl: string;
  /** Production refuses plain http and every non-public address for push endpoints. */
  production: boolean;
}

const AUTH_FIELD = 'authorization_header';

/**
 * Whether a receiver's push endpoint may be used: https (plain http only to a loopback host, and
 * only outside production), no credentials, fragment or port 0 in the URL, an IP-literal host in
 * the address classes the push may reach, and no localhost name in production. Names are checked
 * where they are connected to (the SSRF guard pins the checked address), so a name that resolves
 * elsewhere later is refused then.
 */
export function checkEndpoint(raw: string, production: boolean): URL {
  const refuse = (why: string) => new CustodyError('ssf_endpoint_refused', `The push endpoint_url is not allowed: ${why}.`, [{ path: 'body/delivery/endpoint_url', message: why }]);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('it is not an absolute URL');
  }
  if (url.username || url.password) throw refuse('it must not carry credentials (send them as delivery.authorization_header)');
  // The rule webhooks follow too (src/gateway/push-target.ts): one answer to "may Custody send there".
  const problem = pushTargetProblem(url, { production, plainHttp: 'loopback' });
  if (problem) throw refuse(problem);
  return url;
}

/** What the ledger may say of an endpoint: its origin and path, never a query (which may carry a secret). */
const endpointForLedger = (u: string) => {
  const url = new URL(u);
  return `${url.origin}${url.pathname}`;
};

/**
 * The audience a stream gets when the receiver names none: its endpoint without query (a receiver
 * may put its own key there, and the aud travels in every SET and into the permanent ledger).
 */
export const defaultAudience = (endpointUrl: string) => endpointForLedger(endpointUrl);

/**
 * What the ledger may say of an audience: nothing from a query or fragment on, and no user info.
 * The ledger is permanent and widely read; an aud is the receiver's choice and may be a URL.
 */
export function audienceForLedger(aud: string): string {
  const cut = aud.split(/[?#]/, 1)[0]!;
  try {
    const u = new URL(cut);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
      return u.toString();
    }
  } catch {
    // Not a URL (a URN, a name): the cut above is all there is to do.
  }
  return cut;
}

/** An Authorization value goes into an HTTP header as is: printable ASCII only (no CR/LF, no control characters). */
function checkAuthorizationValue(value: string | undefined): void {
  if (value !== undefined && !/^[\x20-\x7e]+$/.test(value)) {
    throw new CustodyError('validation_failed', 'delivery.authorization_header must be printable ASCII (no line breaks or control characters): it is sent as an HTTP header.', [
      { path: 'body/delivery/authorization_header', message: 'must contain printable ASCII characters only' },
    ]);
  }
}

/**
 * The SSF transmitter's streams (OpenID SSF 1.0 §8): one per receiver a tenant registers, managed
 * with a Custody API key, each change ledgered; and the hook that queues a SET for each stream that
 * wants it, inside the transaction that revokes or suspends a token of the stream's tenant.
 */
export function createStreamService(deps: StreamServiceDeps) {
  const { storage, vault, ledger, clock, keys } = deps;
  const repo = createStreamRepo();
  const endpoints = {
    configuration: `${deps.publicUrl}/v1/ssf/streams`,
    status: `${deps.publicUrl}/v1/ssf/streams/status`,
    verification: `${deps.publicUrl}/v1/ssf/streams/verify`,
    jwks: `${deps.publicUrl}/ssf/jwks.json`,
  };

  function toConfig(r: StreamRow): StreamConfig {
    return {
      stream_id: r.id,
      iss: deps.publicUrl,
      aud: r.audience,
      events_supported: [...EVENTS_SUPPORTED],
      events_requested: JSON.parse(r.events_requested) as string[],
      events_delivered: JSON.parse(r.events_delivered) as string[],
      delivery: { method: PUSH_DELIVERY, endpoint_url: r.endpoint_url },
      min_verification_interval: MIN_VERIFICATION_INTERVAL_S,
      description: r.description,
      tenant_id: r.tenant_id,
      status: r.status,
      status_reason: r.status_reason,
      authorization_header_set: r.authorization_enc !== null,
      pending_events: Number(r.pending_events),
      delivered_events: Number(r.delivered_events),
      dropped_events: Number(r.dropped_events),
      last_delivered_at: r.last_delivered_at,
      last_error: r.last_error,
      created_at: r.created_at,
      updated_at: r.updated_at,
    };
  }

  /** The stream, if the caller may see it; another tenant's stream is as absent as a missing one. */
  async function visible(db: Db, principal: Principal, id: string): Promise<StreamRow> {
    const row = await repo.find(db, id);
    if (!row || !canSeeTenant(principal, row.tenant_id)) throw new CustodyError('ssf_stream_not_found');
    return row;
  }

  function checkDelivery(delivery: { method: string; endpoint_url: string; authorization_header?: string }): void {
    if (delivery.method !== PUSH_DELIVERY) throw new CustodyError('ssf_delivery_unsupported', undefined, [{ path: 'body/delivery/method', message: `must be ${PUSH_DELIVERY}` }]);
    checkEndpoint(delivery.endpoint_url, deps.production);
    checkAuthorizationValue(delivery.authorization_header);
  }

  async function sealAuthorization(trx: Db, tenantId: string, id: string, value: string): Promise<string> {
    return vault.encrypt(await vault.ensureDataKey(trx, tenantId, id, clock.now()), AUTH_FIELD, new Secret(value));
  }

  async function create(principal: Principal, input: CreateStreamInput): Promise<StreamConfig> {
    if (principal.tenantId !== null && input.tenant_id !== undefined && input.tenant_id !== principal.tenantId) throw new CustodyError('tenant_not_found');
    const tenantId = principal.tenantId ?? input.tenant_id;
    if (tenantId === undefined) throw new CustodyError('tenant_required', 'Name the tenant whose events the stream carries (tenant_id).');
    if (!(await deps.tenants.existing(storage.db, [tenantId])).has(tenantId)) throw new CustodyError('tenant_not_found');
    checkDelivery(input.delivery);
    // The key exists before the first SET, and before a receiver reads the JWKS for it.
    await keys.ensure();
    const now = clock.now().toISOString();
    const id = newId('ssfStream', clock.now().getTime());
    const requested = input.events_requested ?? [...EVENTS_SUPPORTED];
    await storage.db.transaction().execute(async (trx) => {
      // A race of two creates may let one more in than the limit; it stays bounded by the callers' own keys.
      if ((await repo.countForTenant(trx, tenantId)) >= MAX_STREAMS_PER_TENANT) throw new CustodyError('ssf_stream_limit');
      const row: SsfStreamsTable = {
        id,
        tenant_id: tenantId,
        status: 'enabled',
        status_reason: null,
        endpoint_url: input.delivery.endpoint_url,
        authorization_enc: input.delivery.authorization_header ? await sealAuthorization(trx, tenantId, id, input.delivery.authorization_header) : null,
        audience: input.aud ?? defaultAudience(input.delivery.endpoint_url),
        events_requested: JSON.stringify(requested),
        events_delivered: JSON.stringify(eventsDelivered(requested)),
        description: input.description ?? null,
        pending_events: 0,
        delivered_events: 0,
        dropped_events: 0,
        last_delivered_at: null,
        last_error: null,
        last_verification_at: null,
        created_by: principal.actor,
        created_at: now,
        updated_at: now,
      };
      await repo.insert(trx, row);
      await ledger.append(trx, {
        actor: principal.actor,
        action: 'ssf.stream_created',
        tenantId,
        subjectId: id,
        data: { endpoint: endpointForLedger(row.endpoint_url), aud: audienceForLedger(row.audience), audDefaulted: input.aud === undefined, eventsDelivered: eventsDelivered(requested), authorizationHeader: row.authorization_enc !== null },
      });
    });
    return toConfig((await repo.find(storage.db, id))!);
  }

  /** PATCH changes the fields given; PUT (replace) returns the others to their defaults. */
  async function update(principal: Principal, input: UpdateStreamInput, replace: boolean): Promise<StreamConfig> {
    if (input.delivery) checkDelivery(input.delivery);
    await storage.db.transaction().execute(async (trx) => {
      const row = await visible(trx, principal, input.stream_id);
      const set: Partial<SsfStreamsTable> = { updated_at: clock.now().toISOString() };
      const changed: string[] = [];
      if (input.delivery) {
        set.endpoint_url = input.delivery.endpoint_url;
        changed.push('delivery');
        if (input.delivery.authorization_header !== undefined) set.authorization_enc = await sealAuthorization(trx, row.tenant_id, row.id, input.delivery.authorization_header);
        else if (replace) set.authorization_enc = null;
      }
      if (input.events_requested !== undefined) {
        set.events_requested = JSON.stringify(input.events_requested);
        set.events_delivered = JSON.stringify(eventsDelivered(input.events_requested));
        changed.push('events_requested');
      }
      if (input.description !== undefined || replace) {
        set.description = input.description ?? null;
        changed.push('description');
      }
      if (input.aud !== undefined || replace) {
        set.audience = input.aud ?? defaultAudience(set.endpoint_url ?? row.endpoint_url);
        changed.push('aud');
      }
      await repo.update(trx, row.id, set);
      await ledger.append(trx, {
        actor: principal.actor,
        action: 'ssf.stream_updated',
        tenantId: row.tenant_id,
        subjectId: row.id,
        data: { changed, replace, endpoint: endpointForLedger(set.endpoint_url ?? row.endpoint_url), authorizationHeader: (set.authorization_enc !== undefined ? set.authorization_enc : row.authorization_enc) !== null },
      });
    });
    return toConfig((await repo.find(storage.db, input.stream_id))!);
  }

  async function setStatus(principal: Principal, input: { stream_id: string; status: StreamStatus['status']; reason?: string }): Promise<StreamStatus> {
    await storage.db.transaction().execute(async (trx) => {
      const row = await visible(trx, principal, input.stream_id);
      await repo.update(trx, row.id, { status: input.status, status_reason: input.reason ?? null, updated_at: clock.now().toISOString() });
      await ledger.append(trx, { actor: principal.actor, action: 'ssf.stream_status_changed', tenantId: row.tenant_id, subjectId: row.id, data: { from: row.status, to: input.status, reason: input.reason ?? null } });
    });
    return { stream_id: input.stream_id, status: input.status, ...(input.reason ? { reason: input.reason } : {}) };
  }

  async function requestVerification(principal: Principal, input: { stream_id: string; state?: string }): Promise<void> {
    const at = clock.now();
    await storage.db.transaction().execute(async (trx) => {
      const row = await visible(trx, principal, input.stream_id);
      if (row.last_verification_at && at.getTime() - Date.parse(row.last_verification_at) < MIN_VERIFICATION_INTERVAL_S * 1000) throw new CustodyError('ssf_verification_too_soon');
      await repo.update(trx, row.id, { last_verification_at: at.toISOString() });
      const jti = randomUUID();
      const payload: PushPayload = { providerId: row.id, streamId: row.id, event: 'verification', jti, txn: jti, at: at.toISOString(), ...(input.state !== undefined ? { state: input.state } : {}) };
      await repo.countQueued(trx, row.id, 1, 0);
      await deps.enqueue(trx, [{ kind: 'ssf_push', subjectId: jti, tenantId: row.tenant_id, payload: { ...payload } }], at, LANE.urgent);
      await ledger.append(trx, { actor: principal.actor, action: 'ssf.verification_requested', tenantId: row.tenant_id, subjectId: row.id, data: { jti } });
    });
  }

  /**
   * Inside the transaction that revokes or suspends tokens: one SET job per stream of their tenant
   * that wants the event (enabled or paused; a disabled stream holds nothing). One read of the
   * tenants' streams per call, however many tokens a bulk step changes; a stream's waiting SETs
   * are bounded, the excess counted as dropped.
   */
  async function enqueueOnTransition(trx: Db, changes: TokenStateChange[]): Promise<void> {
    const byTenant = new Map<string, TokenStateChange[]>();
    for (const c of changes) {
      if (!eventForTransition(c.to)) continue;
      (byTenant.get(c.tenantId) ?? byTenant.set(c.tenantId, []).get(c.tenantId)!).push(c);
    }
    if (byTenant.size === 0) return;
    const streams = await repo.liveForTenants(trx, [...byTenant.keys()]);
    if (streams.length === 0) return;
    const at = clock.now();
    const jobs: Parameters<OutboxEnqueuer>[1] = [];
    for (const s of streams) {
      const wanted = JSON.parse(s.events_delivered) as string[];
      const mine = (byTenant.get(s.tenant_id) ?? []).filter((c) => wanted.includes(EVENT_URI[eventForTransition(c.to)!]));
      if (mine.length === 0) continue;
      const room = Math.max(0, MAX_PENDING_PER_STREAM - Number(s.pending_events));
      const taken = mine.slice(0, room);
      for (const c of taken) {
        const jti = randomUUID();
        const payload: PushPayload = {
          providerId: s.id,
          streamId: s.id,
          event: eventForTransition(c.to)!,
          jti,
          txn: `${c.tokenId}:${c.to}:${c.at}`,
          at: c.at,
          tokenId: c.tokenId,
          reason: c.reason.slice(0, 500),
          initiatingEntity: initiatingEntity(c.actor),
        };
        jobs.push({ kind: 'ssf_push', subjectId: jti, tenantId: s.tenant_id, payload: { ...payload } });
      }
      await repo.countQueued(trx, s.id, taken.length, mine.length - taken.length);
    }
    await deps.enqueue(trx, jobs, at, LANE.bulk);
  }

  return {
    repo,
    enqueueOnTransition,
    configuration() {
      return {
        spec_version: '1_0',
        issuer: deps.publicUrl,
        jwks_uri: endpoints.jwks,
        delivery_methods_supported: [PUSH_DELIVERY],
        configuration_endpoint: endpoints.configuration,
        status_endpoint: endpoints.status,
        verification_endpoint: endpoints.verification,
        // Custody API keys are bearer tokens (RFC 6750); a receiver's administrator holds one of its tenant.
        authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6750' }],
        default_subjects: 'ALL',
      };
    },
    async jwks() {
      const signer = await keys.current();
      return { keys: signer ? [signer.publicJwk as { kty: string; crv: string; x: string; y: string; kid: string; use: string; alg: string }] : [] };
    },
    create,
    async read(principal: Principal, streamId: string | undefined): Promise<StreamConfig | StreamConfig[]> {
      if (streamId !== undefined) return toConfig(await visible(storage.db, principal, streamId));
      return (await repo.list(storage.db, principal.tenantId)).map(toConfig);
    },
    patch: (principal: Principal, input: UpdateStreamInput) => update(principal, input, false),
    replace: (principal: Principal, input: UpdateStreamInput) => update(principal, input, true),
    async delete(principal: Principal, streamId: string): Promise<void> {
      await storage.db.transaction().execute(async (trx) => {
        const row = await visible(trx, principal, streamId);
        await repo.delete(trx, row.id);
        await ledger.append(trx, { actor: principal.actor, action: 'ssf.stream_deleted', tenantId: row.tenant_id, subjectId: row.id, data: { endpoint: endpointForLedger(row.endpoint_url), pendingDropped: Number(row.pending_events) } });
      });
    },
    async getStatus(principal: Principal, streamId: string): Promise<StreamStatus> {
      const row = await visible(storage.db, principal, streamId);
      return { stream_id: row.id, status: row.status, ...(row.status_reason ? { reason: row.status_reason } : {}) };
    },
    setStatus,
    requestVerification,
  };
}

export type StreamService = ReturnType<typeof createStreamService>;
