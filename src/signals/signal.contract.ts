import { Type } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';

/** RFC 8935 §2.3: the error answer of a push, `{"err": "...", "description": "..."}` (not Custody's error shape: transmitters read this one). */
export const SetErrorBody = Type.Object(
  {
    err: Type.Union(
      ['invalid_request', 'invalid_key', 'invalid_issuer', 'invalid_audience', 'authentication_failed', 'access_denied', 'temporarily_unavailable'].map((c) => Type.Literal(c)),
      { description: 'RFC 8935 §2.4 error code (temporarily_unavailable, with 503: the transmitter’s keys could not be fetched; retry)' },
    ),
    description: Type.String({ description: 'What was wrong, for a person' }),
  },
  { description: 'RFC 8935 error response' },
);

/** The largest SET accepted (a SET is a few hundred bytes to a few kilobytes). */
export const MAX_SET_BYTES = 64 * 1024;

export const signalEndpoints = {
  push: endpoint({
    method: 'POST',
    path: '/v1/signals/ssf',
    summary: 'Receive a Security Event Token (RFC 8935 push delivery)',
    description:
      'The body is an RFC 8417 SET (Content-Type application/secevent+jwt), signed by a configured transmitter (GET /v1/ssf/transmitters). ' +
      'Authenticated by its signature, not an API key. Verified: signature (allowed algorithms only), iss, aud, typ secevent+jwt, iat at most 300 s old (+60 s skew) and at most 60 s ahead, jti not seen before. ' +
      'Acted on per the tenant’s policy (signalActions): RISC account-disabled, account-purged, credential-compromise, sessions-revoked, tokens-revoked; CAEP session-revoked, credential-change, token-claims-change; ' +
      'the SSF verification event is accepted and changes nothing. A SET is applied whole or refused whole. Answers 202 with no body, or 400 {err, description} (RFC 8935).',
    tags: ['signals'],
    permission: undefined,
    body: Type.String({ description: 'The SET (compact JWS)', maxLength: MAX_SET_BYTES }),
    status: 202,
    response: Type.Null(),
    errors: [],
  }),
};
