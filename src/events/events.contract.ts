import { Type } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, LimitParam } from '../contract/schemas.ts';

export const OcsfEventSchema = Type.Record(Type.String(), Type.Unknown(), {
  $id: 'OcsfEvent',
  description: 'An OCSF 1.3 event (Account Change 3001, Authentication 3002, Detection Finding 2004 or API Activity 6003); metadata.sequence is its ledger seq',
});

export const EventsQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ pattern: '^\\d{1,15}$', description: 'The nextCursor of the previous page (a ledger seq); omitted: from the beginning' })),
    limit: LimitParam,
    tenantId: Type.Optional(IdOf('tenant')),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('jsonl')], { description: 'jsonl: one event per line (also chosen by Accept: application/x-ndjson); the next cursor is in the X-Next-Cursor header' })),
  },
  { additionalProperties: false },
);

export const EventsPage = Type.Object({
  items: Type.Array(OcsfEventSchema),
  nextCursor: Type.String({ description: 'Where the next page starts: ask again with it (an empty page means caught up; the same cursor later brings what happened since)' }),
});

export const eventEndpoints = {
  list: endpoint({
    method: 'GET',
    path: '/v1/events',
    summary: 'Security events for a SIEM: the ledger as OCSF, oldest first',
    description:
      'Every lifecycle change, consent, alert, finding acknowledgement and administrative action, in ledger order, as OCSF 1.3 events. Page with `cursor`; a tenant administrator reads its tenant’s events only. `Accept: application/x-ndjson` or `format=jsonl` answers JSON lines.',
    tags: ['events'],
    permission: 'events.read',
    query: EventsQuery,
    status: 200,
    response: EventsPage,
    errors: [],
  }),
};
