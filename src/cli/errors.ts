/**
 * Exit codes of `custody`, documented in the README: a script can tell a typo from a missing
 * token, a refusal, a conflict, a tampered ledger and a server that is not there.
 */
export const EXIT = {
  ok: 0,
  /** Anything else: a server error, an unexpected failure. */
  error: 1,
  /** The command line, or the input it sent, was not valid (usage, validation_failed). */
  usage: 2,
  /** The thing named does not exist (or is not visible to this key): 404. */
  notFound: 3,
  /** Refused: no key, a wrong key, or a role that may not do this (401, 403). */
  refused: 4,
  /** The change conflicts with the current state (409: illegal transition, already exists). */
  conflict: 5,
  /** `ledger verify` found the ledger tampered with, or `report verify` a report that does not verify. */
  tampered: 6,
  /** No server answered at the URL. */
  unreachable: 7,
  /** Work that was left unfinished and can be resumed (key rotation). */
  incomplete: 8,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports in one line (or as `{"error":{code,message}}` with --json), with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.error,
    /** A machine-readable code: the server's error code, or the CLI's own. */
    readonly code: string = exitCode === EXIT.usage ? 'usage_error' : 'error',
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The exit code for an HTTP error status from the server. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 400 || status === 413 || status === 415) return EXIT.usage;
  if (status === 401 || status === 403) return EXIT.refused;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  return EXIT.error;
}
