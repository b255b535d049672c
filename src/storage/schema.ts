import type { Generated } from 'kysely';
// Type-only imports of each capability's value sets, so columns are typed as the unions they hold
// (no `as` casts in repositories); the storage layer imports no capability code.
import type { Role } from '../auth/roles.ts';
import type { EnforcementStage } from '../governance/enforcement.plan.ts';
import type { FindingSeverity, FindingStatus, FindingType } from '../governance/finding.types.ts';
import type { UsageOutcome } from '../gateway/gateway.types.ts';
import type { AlertSeverity, AlertStatus } from '../alerts/alert.types.ts';
import type { OutboxKind, OutboxStatus } from '../outbox/outbox.types.ts';
import type { TokenState } from '../tokens/token.lifecycle.ts';
import type { SuspensionKind } from '../tokens/token.suspension.ts';
import type { UpstreamRevocationStatus } from '../tokens/token.types.ts';
import type { CampaignStatus, ItemStatus, ReviewerKind } from '../reviews/review.types.ts';

/**
 * The tables, as Kysely sees them. Timestamps are ISO 8601 UTC strings (they sort as text on both
 * databases); lists and objects are JSON text; booleans are 0/1 integers. Storing the same
 * representation on SQLite and PostgreSQL keeps the repositories free of dialect branches.
 */
export interface Database {
  tenants: TenantsTable;
  providers: ProvidersTable;
  tokens: TokensTable;
  token_scope_usage: TokenScopeUsageTable;
  api_keys: ApiKeysTable;
  data_keys: DataKeysTable;
  key_rotations: KeyRotationsTable;
  ledger_entries: LedgerEntriesTable;
  ledger_checkpoints: LedgerCheckpointsTable;
  gateway_usage_events: GatewayUsageEventsTable;
  gateway_call_shapes: GatewayCallShapesTable;
  gateway_daily_use: GatewayDailyUseTable;
  oauth_flows: OAuthFlowsTable;
  connect_links: ConnectLinksTable;
  outbox_jobs: OutboxJobsTable;
  alerts: AlertsTable;
  policies: PoliciesTable;
  owners: OwnersTable;
  workloads: WorkloadsTable;
  findings: FindingsTable;
  notices: NoticesTable;
  finding_exceptions: FindingExceptionsTable;
  token_workload_usage: TokenWorkloadUsageTable;
  governance_sweeps: GovernanceSweepsTable;
  ssf_transmitters: SsfTransmittersTable;
  ssf_received_jtis: SsfReceivedJtisTable;
  inactive_approvers: InactiveApproversTable;
  webhook_subscriptions: WebhookSubscriptionsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  ledger_cursors: LedgerCursorsTable;
  leak_reporters: LeakReportersTable;
  leak_report_replays: LeakReportReplaysTable;
  token_retired_credentials: TokenRetiredCredentialsTable;
  detection_baselines: DetectionBaselinesTable;
  detection_known_values: DetectionKnownValuesTable;
  ssf_streams: SsfStreamsTable;
  review_campaigns: ReviewCampaignsTable;
  review_items: ReviewItemsTable;
  trend_snapshots: TrendSnapshotsTable;
  console_sessions: ConsoleSessionsTable;
}

export interface TenantsTable {
  id: string;
  name: string;
  created_at: string;
}

export interface ProvidersTable {
  id: string;
  name: string;
  issuer: string | null;
  authorization_endpoint: string | null;
  token_endpoint: string;
  revocation_endpoint: string | null;
  introspection_endpoint: string | null;
  client_id: string;
  client_secret_enc: string | null;
  api_base_urls: string;
  scope_rules: string;
  revocation_verified_at: string | null;
  development: number;
  allow_private_network: number;
  /** 008: 1 when the API's paths may carry ';' path parameters. */
  allow_path_parameters?: number;
  unmapped_calls: 'allow' | 'deny';
  created_at: string;
  updated_at: string;
  /** 002-oauth: discovered metadata (JSON), observed refresh-token rotation (null: not seen yet). */
  metadata?: string;
  refresh_rotation?: number | null;
  discovered_at?: string | null;
  /** 014: JSON list of {name, sensitivity: read|write|admin, description?}: the scopes the provider declares. */
  scope_catalogue?: string;
}

export interface TokensTable {
  id: string;
  tenant_id: string;
  provider_id: string;
  subject: string | null;
  owner: string;
  approver_subject: string | null;
  approver_email: string | null;
  approver_issuer: string | null;
  approved_at: string | null;
  approver_active: number;
  purpose: string | null;
  review_due_at: string | null;
  workloads: string;
  granted_scopes: string;
  state: TokenState;
  state_reason: string | null;
  state_actor: string | null;
  state_changed_at: string;
  issued_at: string;
  access_expires_at: string | null;
  refresh_expires_at: string | null;
  last_used_at: string | null;
  last_used_by: string | null;
  access_token_enc: string;
  refresh_token_enc: string | null;
  access_fp: string;
  refresh_fp: string | null;
  predecessor_id: string | null;
  created_at: string;
  updated_at: string;
  /** 002-oauth: kill time and upstream outcome of a revocation; who started the consent. */
  revocation_requested_at?: string | null;
  revocation_effective_at?: string | null;
  upstream_revocation?: UpstreamRevocationStatus | null;
  upstream_confirmed_at?: string | null;
  approval_started_by?: string | null;
  /** 008: who suspended it (token.suspension.ts), while suspended. */
  suspension_kind?: SuspensionKind | null;
  /** 012: 'gateway' (its use is observed) or 'direct' (the platform uses it outside the gateway). */
  usage_channel?: 'gateway' | 'direct';
  /** 012: JSON list of the tenants the token serves beyond its own (delegated-admin, marketplace). */
  served_tenants?: string;
  /** 012: when the access token in force was issued (null: unknown, tokens from before 012). */
  access_issued_at?: string | null;
  /** 014: JSON list of scopes the issuer granted beyond what the last consent asked for (null: none). */
  excess_scopes?: string | null;
  /** 014: JSON list of what the live access token holds (a narrowing refresh); null: the granted scopes. */
  effective_scopes?: string | null;
  /** 014: JSON set of granted scopes gateway calls needed while they were narrowed away (null: none). */
  wanted_scopes?: string | null;
  /** 024: the token's id in the system it was imported from (unique per tenant and provider; null: not imported with one). */
  external_id?: string | null;
  /** 024: 1 for a record imported without credentials (src/imports): Custody holds nothing to use or revoke it with. */
  inventory_only?: number;
  /** 025: the risk score 0–100 (src/governance/risk.rules.ts); null until first evaluated, and once final. */
  risk_score?: number | null;
  /** 025: JSON list of the score's components {name, points, max, reason}. */
  risk_components?: string | null;
  /** 025: a digest of what the components were made from: the sweep compares it instead of reading them. */
  risk_digest?: string | null;
}

/** 026: one snapshot a day of the governance figures, per tenant and overall (src/trends). */
export interface TrendSnapshotsTable {
  /** A tenant id, or '*' for the whole platform. */
  scope: string;
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  tenant_id: string | null;
  tokens: number;
  managed: number;
  /** JSON object: live findings by type. */
  findings: string;
  taken_at: string;
}

/** 028: the console's sign-in sessions (src/sessions). */
export interface ConsoleSessionsTable {
  id: string;
  /** sha256 of the cookie's secret, hex. */
  secret_hash: string;
  via: 'api_key' | 'sso';
  key_id: string | null;
  actor: string;
  name: string;
  role: Role;
  tenant_id: string | null;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

export interface TokenScopeUsageTable {
  token_id: string;
  scope: string;
  last_used_at: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  role: Role;
  tenant_id: string | null;
  workload: string | null;
  secret_hash: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** Every wrapped data key lives here, so key rotation walks one table. */
export interface DataKeysTable {
  owner_id: string;
  tenant_id: string;
  kek_version: number;
  wrapped: string;
  created_at: string;
  rewrapped_at: string | null;
}

export interface KeyRotationsTable {
  id: Generated<number>;
  target_version: number;
  started_at: string;
  completed_at: string | null;
  rewrapped: number;
}

export interface LedgerEntriesTable {
  seq: number;
  at: string;
  actor: string;
  action: string;
  tenant_id: string | null;
  subject_id: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

export interface LedgerCheckpointsTable {
  seq: number;
  hash: string;
  at: string;
  key_id: string;
  signature: string;
}

/** 002-oauth: a customer consent in progress (authorization code + PKCE). */
export interface OAuthFlowsTable {
  id: string;
  state: string;
  nonce: string;
  provider_id: string;
  tenant_id: string;
  owner: string;
  purpose: string | null;
  scopes: string;
  started_by: string;
  verifier_enc: string;
  created_at: string;
  expires_at: string;
  consumed_at: string | null;
  outcome: string | null;
  token_id: string | null;
  /** 007: sha256 of the httpOnly cookie set on the browser that started the flow (null for flows from before 007). */
  browser_hash?: string | null;
  /** 008: the role of whoever started the consent (decides which suspensions it may lift). */
  started_by_role?: Role | null;
  /** 013: the token this consent renews in place (a reauthorisation link). */
  reauthorize_token_id?: string | null;
  /** 013: when the starter's role counts from (a link's creation; null: the flow's own start). */
  authority_at?: string | null;
}

/** 007-connect-links: a single-use, expiring link that starts a consent in a plain browser. */
export interface ConnectLinksTable {
  id: string;
  code_hash: string;
  tenant_id: string;
  provider_id: string;
  owner: string;
  purpose: string | null;
  scopes: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  opened_at: string | null;
  flow_id: string | null;
  revoked_at: string | null;
  /** 008: the role of whoever made the link. */
  created_by_role?: Role | null;
  /** 013: the token a reauthorisation link renews in place. */
  token_id?: string | null;
}

/** 002-oauth: side effects committed with the state change that causes them. */
export interface OutboxJobsTable {
  id: string;
  kind: OutboxKind;
  subject_id: string;
  tenant_id: string | null;
  payload: string;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: string;
  locked_until: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  /** 011: the lane, 0 urgent (a single revocation), 1 bulk (paced, after the urgent ones). */
  priority: Generated<number>;
}

/** 002-oauth, 015-alerts: alerts raised by the system (issuer revocation, outbox give-up, detection, signals, …). */
export interface AlertsTable {
  id: string;
  kind: string;
  severity: AlertSeverity;
  tenant_id: string | null;
  subject_id: string | null;
  message: string;
  data: string;
  created_at: string;
  acknowledged_at: string | null;
  /** 015: open → acknowledged → resolved; at most one not resolved per (dedupe_key, kind). */
  status: Generated<AlertStatus>;
  /** 015: how many times it was raised while not resolved. */
  count: Generated<number>;
  last_seen_at: string | null;
  updated_at: string | null;
  /** 015: JSON array, the newest evidence (at most 20), oldest first. */
  evidence: Generated<string>;
  /** 015: the subject, else the tenant, else 'global'. */
  dedupe_key: string | null;
  acknowledged_by: string | null;
  acknowledged_reason: string | null;
  resolved_at: string | null;
  resolved_by: string | null;
  resolved_reason: string | null;
}

/** 003-gateway, 006-usage-call-shapes: one row per gateway call, forwarded or denied (written in batches). */
export interface GatewayUsageEventsTable {
  id: Generated<number>;
  at: string;
  token_id: string;
  /** gateway_call_shapes.id: what the call was. */
  shape_id: number;
  status: number;
  source_address: string | null;
  latency_ms: number;
}

/** 006-usage-call-shapes: the part of a gateway call that repeats from call to call, stored once. */
export interface GatewayCallShapesTable {
  id: Generated<number>;
  tenant_id: string | null;
  workload: string | null;
  api_key_id: string | null;
  method: string;
  host: string | null;
  path_template: string;
  scope: string | null;
  /** 1 when the call matched no scope rule of the provider. */
  unmapped: number;
  outcome: UsageOutcome;
  error_code: string | null;
  /** 009: sha256 of the values above (unique): the writer's upsert finds a shape by it. */
  shape_key?: string;
  /** 009: when a batch last used it; retention drops shapes unused since its cutoff. */
  last_seen_at?: string | null;
}

/** 003-gateway: which (token, UTC day) pairs already have their first-use ledger entry. */
export interface GatewayDailyUseTable {
  token_id: string;
  day: string;
}

/** 012-governance: the global policy ('global') and tenants' overrides (their id), versioned. */
export interface PoliciesTable {
  scope: string;
  version: number;
  /** JSON: the values set at this scope (absent ones come from the level above). */
  document: string;
  updated_at: string;
  updated_by: string;
}

/** 012-governance: the accountable owners (people and teams on the platform side). */
export interface OwnersTable {
  id: string;
  name: string;
  kind: 'person' | 'team';
  contact: string | null;
  active: number;
  created_at: string;
  updated_at: string;
}

/** 012-governance: the platform's services that use tokens, per tenant or platform-wide. */
export interface WorkloadsTable {
  id: string;
  name: string;
  tenant_id: string | null;
  scope_key: string;
  owner: string | null;
  purpose: string | null;
  active: number;
  created_at: string;
  updated_at: string;
}

/** 012-governance: what governance found, one live row per subject (token or workload) and type. */
export interface FindingsTable {
  id: string;
  type: FindingType;
  severity: FindingSeverity;
  status: FindingStatus;
  subject_id: string;
  token_id: string | null;
  workload_id: string | null;
  tenant_id: string | null;
  first_seen_at: string;
  last_seen_at: string;
  resolved_at: string | null;
  /** JSON: [{code, message, data}] */
  reasons: string;
  /** Digest of severity and reasons (what a sweep compares). */
  digest: string;
  exception_id: string | null;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  acknowledged_reason: string | null;
  /** 013: enforcement's stage (null, notified, suspended, would_notify, would_suspend), when its next step is due, the notice given. */
  enforcement_stage?: EnforcementStage | null;
  next_action_at?: string | null;
  notice_id?: string | null;
}

/** 013-enforcement: a notice given before enforcement acts on a token. */
export interface NoticesTable {
  id: string;
  tenant_id: string;
  token_id: string;
  finding_id: string;
  finding_type: FindingType;
  /** 'suspend': an enforcement notice; 'escalate': an access review's reminder (finding_id then holds the review item). */
  action: 'suspend' | 'escalate';
  deadline: string;
  message: string;
  /** JSON: NoticeRecipient[] */
  recipients: string;
  link_id: string | null;
  link_url_enc: string | null;
  link_expires_at: string | null;
  /** JSON: {global, tenant} */
  policy_version: string;
  created_at: string;
  delivery: 'pending' | 'delivered' | 'gave_up';
  delivered_at: string | null;
}

/** 012-governance: a time-boxed exception for a tenant (or one of its tokens) and a finding type. */
export interface FindingExceptionsTable {
  id: string;
  tenant_id: string;
  token_id: string | null;
  finding_type: FindingType;
  approved_by: string;
  reason: string;
  expires_at: string;
  created_at: string;
  created_by: string;
  withdrawn_at: string | null;
  withdrawn_by: string | null;
}

/** 012-governance: finished sweeps (the newest few hundred are kept). */
export interface GovernanceSweepsTable {
  started_at: string;
  finished_at: string;
  /** JSON: the sweep's counts. */
  result: string;
}

/** 012-governance: which workloads used a token through the gateway, and when last. */
export interface TokenWorkloadUsageTable {
  token_id: string;
  workload: string;
  last_used_at: string;
}

/** 016-detection: each token's baseline of use (learning progress and volume), one row per token used. */
export interface DetectionBaselinesTable {
  token_id: string;
  tenant_id: string;
  first_seen_at: string;
  calls_seen: number;
  rate_ewma: number;
  rate_peak: number;
  bucket_start: string;
  bucket_count: number;
  updated_at: string;
}

/** 016-detection: the workloads, networks, endpoints and scopes a token is known to use (bounded per token and kind). */
export interface DetectionKnownValuesTable {
  token_id: string;
  kind: 'workload' | 'network' | 'endpoint' | 'scope';
  value: string;
  first_seen_at: string;
}

/** 018-leaks: the fingerprint of a credential a refresh or renewal replaced, kept while the issuer may still honour it. */
export interface TokenRetiredCredentialsTable {
  token_id: string;
  fingerprint: string;
  credential: 'access' | 'refresh';
  retired_at: string;
  keep_until: string;
}

/** 022-leak-replays: a signed leak report already taken (reporter, SHA-256 of its raw body) and its answer, kept 30 days. */
export interface LeakReportReplaysTable {
  reporter_id: string;
  body_sha256: string;
  /** One character per item, in order: 't' true_positive, 'f' false_positive. */
  labels: string;
  received_at: string;
  expires_at: string;
}

/** 018-leaks: a reporter's key for signed leaked-token reports (POST /v1/leaks). */
export interface LeakReportersTable {
  id: string;
  name: string;
  key_id: string;
  /** SPKI PEM of an ECDSA P-256 public key. */
  public_key: string;
  state: 'active' | 'disabled';
  created_at: string;
  created_by: string;
  disabled_at: string | null;
  disabled_by: string | null;
  last_report_at: string | null;
}

/** 019-webhooks: a Standard Webhooks subscription (tenant_id null: platform-wide). */
export interface WebhookSubscriptionsTable {
  id: string;
  tenant_id: string | null;
  url: string;
  /** JSON: string[] of event types and prefixes (`alert.*`, `*`). */
  events: string;
  description: string | null;
  /** The whsec_… signing secret, sealed by the vault. */
  secret_enc: string;
  include_notice_links: number;
  from_seq: number | string;
  created_at: string;
  created_by: string;
  /** 021: ledger messages waiting in the outbox for it (bounded by the dispatcher). */
  pending_jobs?: number;
}

/** 019-webhooks: one delivery attempt of one message to one subscription. */
export interface WebhookDeliveriesTable {
  id: string;
  subscription_id: string;
  message_id: string;
  event_type: string;
  attempt: number;
  outcome: 'delivered' | 'failed' | 'gave_up' | 'dropped';
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  at: string;
}

/** 019-webhooks: how far a reader of the ledger (the webhook dispatcher, the SIEM file sink) has got. */
export interface LedgerCursorsTable {
  name: string;
  seq: number | string;
  updated_at: string;
}

/** 017-signals: a Shared Signals transmitter Custody receives SETs from, speaking for one tenant. */
export interface SsfTransmittersTable {
  id: string;
  tenant_id: string;
  name: string;
  issuer: string;
  audience: string;
  jwks_url: string | null;
  /** JSON: a JWK set of public keys (when no jwks_url). */
  jwks: string | null;
  /** JSON: the allowed JWS algorithms. */
  algorithms: string;
  development: number;
  enabled: number;
  created_at: string;
  created_by: string;
  updated_at: string;
}

/** 017-signals: SET ids received from a transmitter, held until a SET with that id would be too old anyway. */
export interface SsfReceivedJtisTable {
  transmitter_id: string;
  jti: string;
  expires_at: string;
}

/** 017-signals: customer approvers who left (offboarding), per tenant and account at an issuer. */
export interface InactiveApproversTable {
  tenant_id: string;
  issuer: string;
  subject: string;
  reason: string;
  source: 'api' | 'ssf';
  deactivated_at: string;
  deactivated_by: string;
}

/** 020-ssf-streams: the SSF transmitter's streams, one per receiver a tenant registered (src/streams). */
export interface SsfStreamsTable {
  id: string;
  tenant_id: string;
  status: 'enabled' | 'paused' | 'disabled';
  status_reason: string | null;
  endpoint_url: string;
  authorization_enc: string | null;
  audience: string;
  events_requested: string;
  events_delivered: string;
  description: string | null;
  pending_events: number;
  delivered_events: number;
  dropped_events: number;
  last_delivered_at: string | null;
  last_error: string | null;
  last_verification_at: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** 023-reviews: access review campaigns (src/reviews). */
export interface ReviewCampaignsTable {
  id: string;
  name: string;
  tenant_id: string | null;
  owner: string | null;
  provider_id: string | null;
  status: CampaignStatus;
  due_at: string;
  remind_days_before: number;
  remind_at: string;
  reminded_at: string | null;
  creation_cursor: string | null;
  created_by: string;
  created_at: string;
  closed_at: string | null;
}

/** 023-reviews: one item per live token of a campaign (src/reviews). */
export interface ReviewItemsTable {
  id: string;
  campaign_id: string;
  tenant_id: string;
  token_id: string;
  reviewer: string;
  reviewer_kind: ReviewerKind;
  status: ItemStatus;
  decided_at: string | null;
  decided_by: string | null;
  justification: string | null;
  reason: string | null;
  new_owner: string | null;
  reminded_at: string | null;
  created_at: string;
}
