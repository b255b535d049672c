import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import type { DatabaseKind } from './databases.ts';
import { startEchoUpstream, type EchoUpstream } from './echo-upstream.ts';
import { keyFor, startHarness, type Harness, type HarnessOptions } from './harness.ts';
import type { CreateProviderInput, ScopeRule } from '../../src/providers/provider.types.ts';
import { Secret } from '../../src/shared/secret.ts';

/** Shared set-up of the gateway's HTTP tests: a listening Custody, an echo upstream, two tenants. */
export interface GatewayFixture {
  h: Harness;
  upstream: EchoUpstream;
  /** http://127.0.0.1:{custody port} */
  base: string;
  port: number;
  tenantA: string;
  tenantB: string;
  /** The loopback provider: base {upstream}/api, scope rules, unmapped calls refused. */
  providerId: string;
  /** A token of tenant A for workload billing-sync with scope invoices.read. */
  tokenA: string;
  accessTokenA: string;
  /** A token of tenant B for the same workload name. */
  tokenB: string;
  /** Workload keys: billing-sync in tenant A, billing-sync in tenant B, reporting in tenant A. */
  keyA: string;
  keyB: string;
  keyOtherWorkload: string;
  adminKey: string;
  call(tokenId: string, path: string, init?: { method?: string; key?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; json: () => any }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test responses are read ad hoc
  createProvider(input: Partial<CreateProviderInput>): Promise<string>;
  createToken(providerId: string, opts?: { tenantId?: string; scopes?: string[]; workloads?: string[]; accessToken?: string }): Promise<string>;
  close(): Promise<void>;
}

export const SCOPE_RULES: ScopeRule[] = [
  { method: 'GET', pathPattern: '/invoices/**', scope: 'invoices.read' },
  { method: 'POST', pathPattern: '/invoices', scope: 'invoices.write' },
  { method: 'POST', pathPattern: '/uploads', scope: 'invoices.read' },
  { method: '*', pathPattern: '/customers/{id}', scope: 'customers.read' },
  { method: 'GET', pathPattern: '/slow', scope: 'invoices.read' },
  { method: 'GET', pathPattern: '/redirect', scope: 'invoices.read' },
  { method: 'GET', pathPattern: '/bytes', scope: 'invoices.read' },
];

export async function startGatewayFixture(kind: DatabaseKind, options: HarnessOptions = {}): Promise<GatewayFixture> {
  const upstream = await startEchoUpstream();
  const h = await startHarness(kind, options);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (h.app.server.address() as AddressInfo).port;
  const tenantA = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
  const tenantB = (await h.custody.tenants.create(h.admin, { name: `globex-${randomBytes(3).toString('hex')}` })).id;

  const createProvider = async (input: Partial<CreateProviderInput>) =>
    (
      await h.custody.providers.create(h.admin, {
        name: `provider-${randomBytes(4).toString('hex')}`,
        tokenEndpoint: 'https://issuer.example.com/token',
        clientId: 'custody-client',
        apiBaseUrls: [`${upstream.origin}/api`],
        development: true,
        allowPrivateNetwork: true,
        scopeRules: SCOPE_RULES,
        ...input,
      })
    ).id;
  const createToken = async (providerId: string, opts: { tenantId?: string; scopes?: string[]; workloads?: string[]; accessToken?: string } = {}) =>
    (
      await h.custody.tokens.register(h.admin, {
        tenantId: opts.tenantId ?? tenantA,
        providerId,
        owner: 'team-integrations',
        workloads: opts.workloads ?? ['billing-sync'],
        scopes: opts.scopes ?? ['invoices.read'],
        accessToken: new Secret(opts.accessToken ?? `at-${randomBytes(8).toString('hex')}`),
      })
    ).id;

  const providerId = await createProvider({});
  const accessTokenA = `provider-access-token-${randomBytes(8).toString('hex')}`;
  const tokenA = await createToken(providerId, { accessToken: accessTokenA });
  const tokenB = await createToken(providerId, { tenantId: tenantB });
  const keyA = await keyFor(h, 'workload', tenantA, 'billing-sync');
  const keyB = await keyFor(h, 'workload', tenantB, 'billing-sync');
  const keyOtherWorkload = await keyFor(h, 'workload', tenantA, 'reporting');
  const adminKey = await keyFor(h, 'admin');
  const base = `http://127.0.0.1:${port}`;

  return {
    h,
    upstream,
    base,
    port,
    tenantA,
    tenantB,
    providerId,
    tokenA,
    accessTokenA,
    tokenB,
    keyA,
    keyB,
    keyOtherWorkload,
    adminKey,
    createProvider,
    createToken,
    async call(tokenId, path, init = {}) {
      const res = await request(`${base}/gw/${tokenId}${path}`, {
        method: (init.method ?? 'GET') as 'GET',
        headers: { authorization: `Bearer ${init.key ?? keyA}`, ...init.headers },
        body: init.body,
      });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
    },
    async close() {
      await h.close();
      await upstream.close();
    },
  };
}
