import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, ReasonBody, Timestamp } from '../contract/schemas.ts';

/** How many strings one report or check may carry, and how long each may be. */
export const MAX_LEAK_ITEMS = 1_000;
export const MAX_LEAK_TOKEN_CHARS = 4_096;
/** A check takes any string a stored credential could be (registration takes credentials up to this long). */
export const MAX_CHECK_STRING_CHARS = 16_384;
/**
 * The report's body limit: a full report of the largest items (token, url and the small fields)
 * fits, and nothing much larger is read before the signature is checked.
 */
export const LEAK_BODY_LIMIT_BYTES = 6 * 1024 * 1024;

export const LEAK_KEY_ID_HEADER = 'custody-leak-key-id';
export const LEAK_SIGNATURE_HEADER = 'custody-leak-signature';

const LeakString = Type.String({ minLength: 1, maxLength: MAX_LEAK_TOKEN_CHARS, description: 'The string found, exactly as found' });

export const LeakReportItemSchema = Type.Object(
  {
    token: LeakString,
    type: Type.String({ minLength: 1, maxLength: 100, description: "The reporter's name for the kind of secret (e.g. custody_access_token)" }),
    url: Type.Optional(Type.String({ maxLength: 2_048, description: 'Where it was found' })),
    source: Type.Optional(Type.String({ maxLength: 100, description: 'What kind of place it was found in (content, commit, issue, gist, …)' })),
  },
  { additionalProperties: false },
);
export type LeakReportItem = Static<typeof LeakReportItemSchema>;

export const LeakLabel = Type.Union([Type.Literal('true_positive'), Type.Literal('false_positive')]);
export type LeakLabelValue = Static<typeof LeakLabel>;

export const LeakReporterSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    keyId: Type.String(),
    publicKey: Type.String({ description: 'SPKI PEM of the ECDSA P-256 key reports are signed with' }),
    state: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
    createdAt: Timestamp,
    createdBy: Type.String(),
    disabledAt: Nullable(Timestamp),
    disabledBy: Nullable(Type.String()),
    lastReportAt: Nullable(Timestamp),
  },
  { $id: 'LeakReporter' },
);
export type LeakReporter = Static<typeof LeakReporterSchema>;

export const NewLeakReporterBody = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'Who reports (names the ledger actor leak:<name>); letters, digits, . _ -' }),
    keyId: Type.String({ pattern: '^[\\x21-\\x7e]{1,200}$', description: 'What reports send in Custody-Leak-Key-Id (printable ASCII, no spaces)' }),
    publicKey: Type.String({ minLength: 1, maxLength: 4_096, description: 'SPKI PEM ("BEGIN PUBLIC KEY") of an ECDSA P-256 key' }),
  },
  { additionalProperties: false },
);

export const LeakCheckItemSchema = Type.Object({
  index: Type.Integer({ description: 'Position of the string in the request' }),
  label: LeakLabel,
  tokenId: Nullable(Type.String()),
  credential: Nullable(
    Type.Union([Type.Literal('access'), Type.Literal('refresh'), Type.Literal('previous_access'), Type.Literal('previous_refresh')], {
      description: 'The credential it matched: one the token holds, or one a refresh or renewal replaced that the issuer may still honour',
    }),
  ),
  state: Nullable(Type.String({ description: 'The token’s state after the check' })),
  revoked: Type.Boolean({ description: 'Whether this check revoked it (false: it already was revoked or expired)' }),
});
export type LeakCheckItem = Static<typeof LeakCheckItemSchema>;

const tags = ['leaks'];

export const leakEndpoints = {
  report: endpoint({
    method: 'POST',
    path: '/v1/leaks',
    summary: 'Report leaked tokens (secret-scanning partner format), signed by the reporter',
    description:
      'The body is a JSON array of `{token, type, url, source}`, signed with the reporter’s ECDSA P-256 key: `Custody-Leak-Key-Id` names the key, ' +
      '`Custody-Leak-Signature` is the base64 DER ECDSA signature (SHA-256) of the exact raw body. Each string is looked up by keyed fingerprint; ' +
      'a token it matches is revoked at once (and upstream through the outbox), alerted and ledgered. The answer labels each item, in order, and ' +
      'reveals nothing else.',
    tags,
    permission: undefined,
    body: Type.Array(LeakReportItemSchema, { minItems: 1, maxItems: MAX_LEAK_ITEMS }),
    status: 200,
    response: Type.Array(Type.Object({ token_type: Type.String(), label: LeakLabel })),
    errors: ['leak_signature_missing', 'leak_key_unknown', 'leak_signature_invalid'],
  }),
  check: endpoint({
    method: 'POST',
    path: '/v1/leaks/check',
    summary: 'Check strings found somewhere (a log, a paste) against the stored credentials; revoke what matches',
    description: 'The same lookup and revocation as a signed report, for platform staff: the answer names the tokens matched.',
    tags,
    permission: 'leaks.check',
    body: Type.Object(
      { strings: Type.Array(Type.String({ minLength: 1, maxLength: MAX_CHECK_STRING_CHARS }), { minItems: 1, maxItems: MAX_LEAK_ITEMS, description: 'The strings found (the request body limit applies: send many in several requests)' }) },
      { additionalProperties: false },
    ),
    status: 200,
    response: Type.Object({ checked: Type.Integer(), matched: Type.Integer(), revoked: Type.Integer(), items: Type.Array(LeakCheckItemSchema) }),
    errors: [],
  }),
  listReporters: endpoint({
    method: 'GET',
    path: '/v1/leaks/reporters',
    summary: 'Reporters of leaked tokens and their keys',
    tags,
    permission: 'leaks.reporters.read',
    status: 200,
    response: Type.Object({ items: Type.Array(LeakReporterSchema) }),
    errors: [],
  }),
  addReporter: endpoint({
    method: 'POST',
    path: '/v1/leaks/reporters',
    summary: 'Register a reporter’s public key',
    description: 'A reporter rotates its key by registering a new key id under the same name, then disabling the old one.',
    tags,
    permission: 'leaks.reporters.manage',
    body: NewLeakReporterBody,
    status: 201,
    response: LeakReporterSchema,
    errors: ['leak_reporter_exists', 'leak_reporter_limit', 'leak_public_key_invalid'],
  }),
  disableReporter: endpoint({
    method: 'POST',
    path: '/v1/leaks/reporters/:id/disable',
    summary: 'Stop accepting reports signed with this key',
    tags,
    permission: 'leaks.reporters.manage',
    params: Type.Object({ id: IdOf('leakReporter') }),
    body: ReasonBody,
    status: 200,
    response: LeakReporterSchema,
    errors: ['leak_reporter_not_found'],
  }),
};
