/**
 * One registry of error codes. Every failure the API can answer with is listed here with its HTTP
 * status and a message a person can act on; the HTTP error handler reads only this table.
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, message: 'The request is not valid.' },
  malformed_json: { status: 400, message: 'The request body is not valid JSON.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json.' },
  body_too_large: { status: 413, message: 'The request body is larger than the server accepts.' },
  invalid_id: { status: 400, message: 'The id has the wrong form.' },
  invalid_cursor: { status: 400, message: 'The cursor is not one this server issued; start again without it.' },
  filter_required: { status: 400, message: 'Name at least one of tenantId, providerId or ids.' },
  unauthenticated: { status: 401, message: 'Send a valid API key as "Authorization: Bearer <key>".' },
  forbidden: { status: 403, message: 'Your role may not do this.' },
  csrf_failed: { status: 403, message: 'A state-changing call made with the console session cookie must carry the session\'s CSRF token in X-Custody-CSRF (GET /v1/session answers it).' },
  sso_failed: { status: 400, message: 'Single sign-on did not complete; start again from the console\'s sign-in page.' },
  not_found: { status: 404, message: 'There is no such route.' },
  method_not_allowed: { status: 405, message: 'This route does not accept that method.' },
  tenant_not_found: { status: 404, message: 'No tenant with that id is visible to you.' },
  provider_not_found: { status: 404, message: 'No provider with that id is visible to you.' },
  token_not_found: { status: 404, message: 'No token with that id is visible to you.' },
  api_key_not_found: { status: 404, message: 'No API key with that id.' },
  connect_link_not_found: { status: 404, message: 'No consent link with that id is visible to you.' },
  tenant_exists: { status: 409, message: 'A tenant with that name already exists.' },
  provider_exists: { status: 409, message: 'A provider with that name already exists.' },
  illegal_transition: { status: 409, message: 'That lifecycle transition is not allowed from the current state.' },
  tenant_required: { status: 400, message: 'This role needs a tenantId.' },
  tenant_not_allowed: { status: 400, message: 'This role is not bound to a tenant; leave tenantId out.' },
  policy_invalid: { status: 400, message: 'The policy is not valid; each problem is listed in details.' },
  owner_not_found: { status: 404, message: 'No owner with that id.' },
  owner_inactive: { status: 409, message: 'That owner is deactivated; tokens can only be moved to an active owner.' },
  owner_exists: { status: 409, message: 'An owner with that name already exists.' },
  workload_not_found: { status: 404, message: 'No workload with that id is visible to you.' },
  workload_exists: { status: 409, message: 'A workload with that name already exists for that tenant (or platform-wide).' },
  finding_not_found: { status: 404, message: 'No finding with that id is visible to you.' },
  finding_resolved: { status: 409, message: 'The finding is resolved; there is nothing to acknowledge.' },
  exception_not_found: { status: 404, message: 'No exception with that id is visible to you.' },
  notice_not_found: { status: 404, message: 'No notice with that id is visible to you.' },
  alert_not_found: { status: 404, message: 'No alert with that id is visible to you.' },
  alert_resolved: { status: 409, message: 'The alert is already resolved; a repeat of its cause opens a new one.' },
  usage_window_invalid: { status: 400, message: 'The usage window is not valid: from must not be after to, and it may span at most 366 days (UTC dates, YYYY-MM-DD).' },
  webhook_not_found: { status: 404, message: 'No webhook subscription with that id is visible to you.' },
  webhook_url_refused: { status: 400, message: 'The webhook URL is not allowed: it must be an absolute https URL of a public host, without credentials (plain http and private or loopback hosts are accepted outside production only).' },
  webhook_limit_reached: { status: 409, message: 'This tenant (or the platform) already has the most webhook subscriptions allowed; remove one first (DELETE /v1/webhooks/{id}).' },
  webhook_filter_invalid: { status: 400, message: 'Each event filter is an event type (token.revoked), a prefix ending in .* (alert.*), or * for everything.' },
  exception_expired: { status: 409, message: 'The exception has already expired or been withdrawn.' },
  rate_limited: { status: 429, message: 'Too many requests; slow down.' },
  concurrency_limited: { status: 429, message: 'Too many calls of this tenant or workload are in flight to this provider; retry when one has finished.' },
  request_timeout: { status: 408, message: 'The request did not arrive in time (its headers or body stopped arriving, or came too slowly); the server stopped waiting for it.' },
  headers_too_large: { status: 431, message: 'The request headers are larger than the server accepts.' },
  malformed_request: { status: 400, message: 'The request is not valid HTTP.' },
  token_revoked: { status: 403, message: 'The token was revoked; it can no longer be used. Ask the customer to approve a new one.' },
  token_suspended: { status: 403, message: 'The token is suspended; it can be used again once it is resumed or reauthorised.' },
  token_expired: { status: 403, message: 'The token has expired; ask the customer to approve a new one.' },
  token_inventory_only: { status: 403, message: 'The token is an inventory-only record (imported without credentials): Custody holds no credential for it, so it cannot be used through the gateway, refreshed or revoked at the issuer. Have the customer approve it through Custody (POST /v1/tokens/{id}/reauthorization) to bring it under management.' },
  workload_not_allowed: { status: 403, message: 'This workload is not listed on the token; ask its owner to add the workload.' },
  // Shared by the gateway and refresh (which may only ask for scopes the token already holds): one code, one status.
  scope_not_granted: { status: 403, message: 'The call needs a scope the token was not granted.' },
  scope_narrowed: { status: 403, message: 'The call needs a granted scope that a narrowing refresh left out of the live access token (unused for the policy’s window). Have the customer reauthorise the token (POST /v1/tokens/{id}/reauthorization) to widen it again.' },
  unmapped_call_refused: { status: 403, message: 'The call matches no scope rule of the provider, and the provider refuses unmapped calls.' },
  target_not_allowed: { status: 403, message: 'The target is not within the provider API; the gateway forwards only to its declared hosts and paths.' },
  upstream_unavailable: { status: 502, message: 'The provider API could not be reached or broke off the response.' },
  upstream_timeout: { status: 504, message: 'The provider API did not answer in time.' },
  gateway_overloaded: { status: 503, message: 'The gateway is saturated; retry shortly.' },
  shutting_down: { status: 503, message: 'This server is shutting down; retry, and another instance will answer.' },
  database_unavailable: { status: 503, message: 'The database connection was lost and the work was rolled back; retry.' },
  report_busy: { status: 503, message: 'Too many compliance reports are being computed at once; retry in a few seconds.' },
  keyring_unavailable: { status: 500, message: 'The key-encryption keyring cannot decrypt this record.' },
  consent_not_supported: { status: 409, message: 'This provider cannot run a customer consent: it needs an issuer and an authorization endpoint.' },
  discovery_failed: { status: 502, message: 'The issuer could not be discovered (RFC 8414 / OpenID discovery); check the issuer URL or give the endpoints explicitly.' },
  refresh_not_possible: { status: 409, message: 'This token has no refresh token or is not active, so it cannot be refreshed.' },
  refresh_failed: { status: 502, message: 'The issuer did not answer the refresh after several attempts; try again later.' },
  refresh_refused: { status: 409, message: 'The issuer refused the refresh (invalid_grant): the customer revoked the grant, so the token is now revoked.' },
  leak_reporter_not_found: { status: 404, message: 'No leak reporter with that id.' },
  credential_registered: { status: 409, message: 'This credential is already in the inventory: a credential is registered once (a second record would escape the first one’s suspension or revocation).' },
  leak_reporter_exists: { status: 409, message: 'A leak reporter key with that key id is already registered; give the new key its own key id.' },
  leak_reporter_limit: { status: 409, message: 'Too many leak reporter keys are registered; disable ones no longer in use first.' },
  leak_public_key_invalid: { status: 400, message: 'The public key must be a PEM (SPKI, "BEGIN PUBLIC KEY") ECDSA P-256 key.' },
  leak_signature_missing: { status: 400, message: 'Send the reporter key id in Custody-Leak-Key-Id and the base64 DER ECDSA P-256 SHA-256 signature of the raw body in Custody-Leak-Signature.' },
  leak_key_unknown: { status: 401, message: 'No active leak reporter has that key id; ask the Custody administrator to register your public key.' },
  leak_signature_invalid: { status: 401, message: 'The signature does not verify: sign the exact raw body bytes with ECDSA P-256 SHA-256 and send it base64-encoded (DER).' },
  transmitter_not_found: { status: 404, message: 'No Shared Signals transmitter with that id.' },
  transmitter_exists: { status: 409, message: 'A transmitter with that issuer and audience is already configured; change that one (PATCH) or use another audience.' },
  transmitter_invalid: { status: 400, message: 'The transmitter configuration is not valid; each problem is listed in details.' },
  ssf_stream_not_found: { status: 404, message: 'No Shared Signals stream with that stream_id is visible to you.' },
  ssf_stream_limit: { status: 409, message: 'This tenant already has the most SSF streams allowed (3); update one (PATCH /v1/ssf/streams) or delete one first.' },
  ssf_endpoint_refused: { status: 400, message: 'The push endpoint_url is not allowed: it must be an absolute https URL of a public host, without credentials or fragment (plain http to a loopback host is accepted outside production only).' },
  ssf_delivery_unsupported: { status: 400, message: 'Custody transmits by push only: set delivery.method to urn:ietf:rfc:8935.' },
  ssf_verification_too_soon: { status: 429, message: 'A verification event was requested for this stream less than min_verification_interval seconds ago; wait and ask again.' },
  review_not_found: { status: 404, message: 'No access review campaign with that id is visible to you.' },
  review_item_not_found: { status: 404, message: 'No item with that id in this access review campaign.' },
  review_scope_required: { status: 400, message: 'Name what the campaign reviews: at least one of tenantId, owner or providerId (together they narrow it).' },
  review_scope_empty: { status: 400, message: 'No live (active or suspended) token matches the campaign’s scope; there is nothing to review.' },
  review_too_large: { status: 400, message: 'The campaign would hold more tokens than one campaign may; narrow it by owner or provider and run several.' },
  review_item_decided: { status: 409, message: 'The item is already decided (or was escalated at the deadline); a decision is final. Change the token itself (PATCH, justify, revoke) if something else is needed.' },
  review_token_ended: { status: 409, message: 'The token was revoked or expired outside this review; there is nothing left to decide. The item is escalated at the deadline like every undecided one.' },
  report_period_invalid: { status: 400, message: 'The report period is not valid: from must be before to, and it may span at most 366 days (UTC dates YYYY-MM-DD or ISO 8601 timestamps).' },
  report_table_invalid: { status: 400, message: 'CSV gives one table of the report per request: name it with table= (the message lists them).' },
  // Import of tokens held elsewhere (src/imports): problems with the batch as a whole; bad rows are answered by line in the result.
  import_malformed: { status: 400, message: 'The import data could not be read as the format named (CSV with a header row, or JSON: an array of objects or {"tokens": [...]}); the message gives the line.' },
  import_columns_invalid: { status: 400, message: 'The import names columns Custody does not know, or lacks a required one (tenantId, providerId, owner); docs/import.md lists the columns.' },
  import_batch_too_large: { status: 400, message: 'An import batch holds at most 2,000 rows; send the file in several batches (custody import does).' },
  trend_window_invalid: { status: 400, message: 'The trend window is not valid: from must not be after to, and it may span at most 366 days (UTC dates, YYYY-MM-DD).' },
  internal_error: { status: 500, message: 'Something went wrong on the server. The request id identifies it in the logs.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetail {
  path: string;
  message: string;
}

export class CustodyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[] | undefined;

  constructor(code: ErrorCode, message?: string, details?: ErrorDetail[]) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'CustodyError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = details;
  }
}

export function isCustodyError(err: unknown): err is CustodyError {
  return err instanceof CustodyError;
}
