import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { SetErrorCode } from './signal.verify.ts';

/**
 * Refusals that cannot be tied to a transmitter (not a JWT, an unknown issuer, a signature that
 * does not verify) come from anyone on the network: each one ledgered would let an anonymous
 * caller grow the permanent, append-only ledger without bound. They are counted in memory per
 * minute and code and written as one `signal.refused` entry per (minute, code) with its count
 * once the minute is over (and at shutdown); /metrics counts each one as it happens. Memory holds
 * at most the codes of the minutes not yet written (7 codes a minute).
 */
export function createRefusalRollup(deps: { storage: Storage; ledger: LedgerService; clock: Clock; logger: Logger }) {
  const counts = new Map<string, number>();
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;

  const minuteOf = (at: Date) => at.toISOString().slice(0, 16);

  async function writeBefore(minute: string | null): Promise<void> {
    const due = [...counts].filter(([key]) => minute === null || key.split('|')[0]! < minute);
    if (due.length === 0) return;
    for (const [key] of due) counts.delete(key);
    try {
      await deps.storage.db.transaction().execute((trx) =>
        deps.ledger.appendMany(
          trx,
          due.map(([key, count]) => {
            const [at, code] = key.split('|') as [string, SetErrorCode];
            return { actor: 'ssf:unidentified', action: 'signal.refused', tenantId: null, subjectId: null, data: { code, count, minute: `${at}Z`, rolledUp: true } };
          }),
        ),
      );
    } catch (err) {
      // Put back: the next flush tries again (memory stays bounded by minutes × codes).
      for (const [key, count] of due) counts.set(key, (counts.get(key) ?? 0) + count);
      deps.logger.warn({ err: (err as Error).message }, 'writing rolled-up SET refusals to the ledger failed; retrying next minute');
    }
  }

  function flush(all = false): Promise<void> {
    flushing = (flushing ?? Promise.resolve()).then(() => writeBefore(all ? null : minuteOf(deps.clock.now())));
    return flushing;
  }

  return {
    record(code: SetErrorCode): void {
      const key = `${minuteOf(deps.clock.now())}|${code}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (timer === null) {
        timer = setInterval(() => void flush(), 60_000);
        timer.unref();
      }
    },
    /** Writes the finished minutes (all of them with `all`). */
    flush,
    async close(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = null;
      await flush(true);
    },
  };
}
