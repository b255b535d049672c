import { Type, type TSchema } from 'typebox';
import { idPattern, type IdKind } from '../shared/ids.ts';

/** Shared pieces of the contract: ids, timestamps, errors, paging. */
export const IdOf = (kind: IdKind, description?: string) => Type.String({ pattern: idPattern(kind), ...(description ? { description } : {}) });
// RFC 3339 admits a leap second (…:60), which JavaScript dates cannot represent: the pattern refuses it
// with a 400 instead of letting `new Date(…).toISOString()` throw a 500 deeper down.
export const Timestamp = Type.String({
  format: 'date-time',
  pattern: '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:[0-5]\\d(?:\\.\\d{1,9})?(?:[Zz]|[+-]\\d{2}:\\d{2})$',
  description: 'ISO 8601 timestamp, e.g. 2026-11-28T09:00:00Z',
});
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
/** Free text a person typed: bounded, never empty. */
export const NOT_BLANK = '^$|\\S';

export const Text = (maxLength = 500, description?: string) => Type.String({ minLength: 1, maxLength, ...(description ? { description } : {}) });

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Machine-readable error code' }),
      message: Type.String({ description: 'What went wrong and what to do about it' }),
      requestId: Type.Optional(Type.String()),
      details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
    }),
  },
  { $id: 'Error', description: 'Every failure answers with this shape.' },
);

/** Query strings arrive as text; numbers and booleans are validated as text and converted in the route. */
export const LimitParam = Type.Optional(Type.String({ pattern: '^(?:[1-9]\\d{0,2}|1000)$', description: 'Page size, 1–1000 (default 50)' }));
export const BoolParam = Type.Union([Type.Literal('true'), Type.Literal('false')]);

/**
 * Why an action was taken, for the ledger: a reason of spaces alone says nothing, and is refused.
 * (The pattern lets the empty string through to minLength, so an empty reason gets one message.)
 */
export const ReasonText = (maxLength = 500, description = 'Why: recorded in the ledger') => Type.String({ minLength: 1, maxLength, pattern: NOT_BLANK, description });
export const ReasonBody = Type.Object({ reason: ReasonText() }, { additionalProperties: false });

export const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
};
