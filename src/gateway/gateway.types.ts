import type { ProviderAccessView } from '../providers/provider.types.ts';
import type { TokenAccessView } from '../tokens/token.operations.ts';

/**
 * What the gateway needs to know about a token to decide a call (the token's and its provider's
 * access views, from their owners). No credential material. `updatedAt` moves whenever the record
 * changes (state, workloads, credential), and the provider's whenever the provider does: the
 * cache compares them.
 */
export interface GatewayToken extends TokenAccessView {
  provider: GatewayProvider;
}

export type GatewayProvider = ProviderAccessView;

export type UsageOutcome = 'forwarded' | 'denied' | 'failed';

/** One gateway call, as the usage table records it. */
export interface UsageEvent {
  /** When the call ended, in milliseconds since the epoch (stored as ISO text). */
  atMs: number;
  tokenId: string;
  /** The caller's tenant (the token's, when the call got that far). */
  tenantId: string | null;
  workload: string | null;
  apiKeyId: string | null;
  /** The caller's actor name, for the first-use ledger entry. */
  actor: string;
  method: string;
  host: string | null;
  pathTemplate: string;
  scope: string | null;
  unmapped: boolean;
  outcome: UsageOutcome;
  errorCode: string | null;
  status: number;
  sourceAddress: string | null;
  latencyMs: number;
}

export interface GatewayLimits {
  /** Largest request body forwarded, in bytes. */
  bodyLimitBytes: number;
  /** Upstream headers and body-inactivity timeout. */
  upstreamTimeoutMs: number;
  /** How long a cached token decision may be used before it is read again (the fallback for lost notifications). */
  recheckMs: number;
  /** Usage events waiting to be written above which new calls wait (back-pressure). */
  usageHighWater: number;
  /** How long a call waits for the usage queue to drain before answering 503 gateway_overloaded. */
  admissionWaitMs: number;
  /** Usage events older than this many days are deleted (0: kept forever). */
  usageRetentionDays: number;
  /** A caller's body that stops arriving, or a response the caller stops reading, is cut after this long. */
  idleTimeoutMs: number;
  /** The longest any call may last, from its arrival. */
  callDeadlineMs: number;
  /** A caller's body, or its reading of a response, slower than this (bytes a second, judged after one idle period) is cut; 0: no minimum. */
  minBytesPerSecond: number;
  /** Upstream connections per provider origin (undici pool size). */
  connectionsPerOrigin: number;
  /** Calls one tenant may have in flight to one provider origin. */
  maxCallsPerTenant: number;
  /** Calls one workload of a tenant may have in flight to one provider origin. */
  maxCallsPerWorkload: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  bodyLimitBytes: 10 * 1024 * 1024,
  upstreamTimeoutMs: 30_000,
  recheckMs: 2_000,
  usageHighWater: 20_000,
  admissionWaitMs: 2_000,
  usageRetentionDays: 90,
  idleTimeoutMs: 15_000,
  callDeadlineMs: 300_000,
  minBytesPerSecond: 1024,
  connectionsPerOrigin: 256,
  maxCallsPerTenant: 64,
  maxCallsPerWorkload: 48,
};
