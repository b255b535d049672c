import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { Nullable } from '../contract/schemas.ts';
import { TOKEN_STATES } from '../tokens/token.lifecycle.ts';
import { IMPORT_COLUMNS, MAX_BATCH_ROWS, MAX_INVALID_LISTED } from './import.rules.ts';

/** The import of tokens held elsewhere (issue 16): declared once for the server, the OpenAPI document and the CLI. */
export const ImportBody = Type.Object(
  {
    format: Type.Union([Type.Literal('csv'), Type.Literal('json')], { description: 'csv: a header row naming the columns, then one token a record; json: an array of objects (or {"tokens": [...]}) whose keys are the columns' }),
    data: Type.String({
      minLength: 1,
      maxLength: 64 * 1024 * 1024,
      description: `The batch: at most ${MAX_BATCH_ROWS} rows, within the server's body limit (CUSTODY_BODY_LIMIT_BYTES, 256 KiB by default). Columns: ${IMPORT_COLUMNS.join(', ')} (docs/import.md).`,
    }),
    firstLine: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'The line of the file `data` starts on (default 1): a batch cut from a larger file answers with the file’s line numbers' })),
    columns: Type.Optional(
      Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: IMPORT_COLUMNS.length, description: 'CSV: the file’s header, when `data` is a slice after it (then `data` has no header row)' }),
    ),
    skipInvalid: Type.Optional(Type.Boolean({ description: 'Write the valid rows even when others are invalid (default false: a batch with any invalid row writes nothing)' })),
    dryRun: Type.Optional(Type.Boolean({ description: 'Check the batch and say what it would do, writing nothing' })),
  },
  { additionalProperties: false },
);
export type ImportBody = Static<typeof ImportBody>;

const Reason = Type.Object({ column: Nullable(Type.String({ description: 'The column at fault; null for the row as a whole' })), message: Type.String() });

export const ImportResult = Type.Object(
  {
    written: Type.Boolean({ description: 'Whether the batch was written. false: it had invalid rows (and skipInvalid was not set), or dryRun — nothing at all was written' }),
    rows: Type.Integer({ description: 'Rows read from the batch' }),
    imported: Type.Integer({ description: 'New records written by this call' }),
    existing: Type.Integer({ description: 'Rows Custody already holds (same tenant, provider and externalId, or the same credential): left as they are' }),
    unwritten: Type.Integer({ description: 'Valid rows not held yet that were not written (the batch was refused, or dryRun)' }),
    invalid: Type.Integer({ description: 'Invalid rows' }),
    invalidRows: Type.Array(Type.Object({ line: Type.Integer({ description: 'Line in the file' }), reasons: Type.Array(Reason) }), {
      description: `The invalid rows in line order, at most ${MAX_INVALID_LISTED} (invalid counts them all)`,
    }),
    results: Type.Array(
      Type.Object({
        line: Type.Integer(),
        status: Type.Union([Type.Literal('imported'), Type.Literal('existing'), Type.Literal('new')], { description: 'imported: written now; existing: already held; new: valid, not held, not written' }),
        tokenId: Nullable(Type.String()),
        state: Nullable(Type.Enum(TOKEN_STATES, { description: 'The record’s state: an existing one’s, active for one imported now, null when not written' })),
        matchedBy: Nullable(Type.Union([Type.Literal('externalId'), Type.Literal('fingerprint')], { description: 'How an existing record was recognised (null for the others)' })),
      }),
      { description: 'Each valid row, in line order' },
    ),
  },
  { $id: 'ImportResult' },
);
export type ImportResult = Static<typeof ImportResult>;

export const importEndpoints = {
  importTokens: endpoint({
    method: 'POST',
    path: '/v1/tokens/import',
    summary: 'Import tokens held elsewhere (a batch of CSV or JSON rows)',
    description:
      'All or nothing per batch: a batch with any invalid row writes nothing and answers every invalid row by its line in the file (200, written: false), unless skipInvalid. Idempotent: a row Custody already holds — same tenant, provider and externalId, or (without one) the same access or refresh token — is reported as existing, never inserted twice. Credentials are optional: a row without any becomes an inventory-only record (governed, refused by the gateway). Each new record is ledgered (token.imported) and judged by the findings at once. A tenant administrator imports rows of its own tenant only.',
    tags: ['tokens'],
    permission: 'tokens.import',
    body: ImportBody,
    status: 200,
    response: ImportResult,
    errors: ['import_malformed', 'import_columns_invalid', 'import_batch_too_large'],
  }),
};
