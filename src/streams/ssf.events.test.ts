import { describe, expect, it } from 'vitest';
import { EVENT, eventForTransition, eventsDelivered, initiatingEntity, setClaims, type PushPayload } from './ssf.events.ts';
import { checkEndpoint } from './stream.service.ts';

/** The pure parts of the transmitter: what is told, to whom it may be pushed, and the claims of a SET. */
describe('SSF transmitter rules', () => {
  it('tells revocation as session-revoked and suspension as credential-change, nothing else', () => {
    expect(['revoked', 'suspended', 'active', 'expired'].map(eventForTransition)).toEqual(['session-revoked', 'credential-change', null, null]);
  });

  it('delivers only the supported events a receiver asked for, once each', () => {
    expect(eventsDelivered([EVENT.credentialChange, 'urn:x', EVENT.credentialChange])).toEqual([EVENT.credentialChange]);
    expect(eventsDelivered([])).toEqual([]);
  });

  it('names who started a change as CAEP does', () => {
    expect(['apikey:key_1', 'policy', 'detection', 'issuer', 'ssf:ssf_1', 'leak:github', 'system:expiry-sweep'].map(initiatingEntity)).toEqual([
      'admin',
      'policy',
      'policy',
      'system',
      'system',
      'system',
      'system',
    ]);
  });

  it('leaves out the user subject when the issuer or the account is unknown', () => {
    const job: PushPayload = { providerId: 'sfs_1', streamId: 'sfs_1', event: 'credential-change', jti: 'j', txn: 't', at: '2026-12-01T00:00:00.000Z', tokenId: 'tok_1', initiatingEntity: 'admin' };
    const claims = setClaims({ issuer: 'https://c', audience: 'a', streamId: 'sfs_1', iat: 1, job, token: { tokenId: 'tok_1', tenantId: 'ten_1', issuer: null, subject: 'acct' } });
    expect(claims.sub_id).toEqual({ format: 'complex', session: { format: 'opaque', id: 'tok_1' }, tenant: { format: 'opaque', id: 'ten_1' } });
    expect((claims.events as Record<string, Record<string, unknown>>)[EVENT.credentialChange]).toMatchObject({ change_type: 'update', credential_type: 'app', event_timestamp: 1796083200 });
    expect(claims).not.toHaveProperty('exp');
  });

  describe('push endpoints', () => {
    const refused = (url: string, production: boolean) => {
      try {
        checkEndpoint(url, production);
        return null;
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    it('accepts https to public hosts, and http to loopback outside production only', () => {
      expect(refused('https://receiver.example.com/ssf', true)).toBeNull();
      expect(refused('http://127.0.0.1:9000/ssf', false)).toBeNull();
      expect(refused('http://localhost:9000/ssf', false)).toBeNull();
      expect(refused('http://[::1]:9000/ssf', false)).toBeNull();
      expect(refused('http://127.0.0.1:9000/ssf', true)).toBe('ssf_endpoint_refused');
      expect(refused('https://127.0.0.1/ssf', true)).toBe('ssf_endpoint_refused');
      expect(refused('https://localhost/ssf', true)).toBe('ssf_endpoint_refused');
      expect(refused('https://10.1.2.3/ssf', true)).toBe('ssf_endpoint_refused');
      expect(refused('http://10.1.2.3/ssf', false)).toBe('ssf_endpoint_refused');
    });
    it('refuses metadata and link-local addresses everywhere, and URLs with credentials, fragments or other schemes', () => {
      for (const production of [true, false]) {
        expect(refused('https://169.254.169.254/latest/meta-data', production)).toBe('ssf_endpoint_refused');
        expect(refused('https://[fe80::1]/', production)).toBe('ssf_endpoint_refused');
        expect(refused('https://u:p@receiver.example.com/', production)).toBe('ssf_endpoint_refused');
        expect(refused('https://receiver.example.com/#x', production)).toBe('ssf_endpoint_refused');
        expect(refused('ftp://receiver.example.com/', production)).toBe('ssf_endpoint_refused');
        expect(refused('not a url', production)).toBe('ssf_endpoint_refused');
      }
    });
  });
});
