import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { SetErrorCode } from './signal.verify.ts';

/** Distinct jtis named in one rolled-up entry (the count says how many refusals there were). */
const JTIS_PER_ENTRY = 10;

/**
 * Refusals anyone on the network can cause at will are rolled up: each one ledgered would let
 * them grow the permanent, append-only ledger without bound. Two kinds:
 * - refusals that cannot be tied to a transmitter (not a JWT, an unknown issuer, a signature that
 *   does not verify): anonymous;
 * - refusals of a SET whose signature verified but that anyone who captured it can send again: a
 *   replayed jti, a SET too old (or not yet valid), a claim or jti that fails — every refusal of a
 *   verified SET except the first of its jti for what it says (signal.receiver.ts).
 * They are counted in memory per minute, transmitter (none for anonymous ones) and code, and
 * written as one `signal.refused` entry per (minute, transmitter, code) with its count and up to
 * JTIS_PER_ENTRY of the jtis named, once the minute is over (and at shutdown); /metrics counts each
 * one as it happens. Memory holds at most the keys of the minutes not yet written (7 codes a
 * minute for each configured transmitter, plus the anonymous ones).
 */
export function createRefusalRollup(deps: { storage: Storage; ledger: LedgerService; clock: Clock; logger: Logger }) {
  const counts = new Map<string, { count: number; jtis: Set<string> }>();
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;

  const minuteOf = (at: Date) => at.toISOString().slice(0, 16);

  async function writeBefore(minute: string | null): Promise<void> {
    const due = [...counts].filter(([key]) => minute === null || key.split('|')[0]! < minute);
    if (due.length === 0) return;
    for (const [key] of due) counts.delete(key);
    try {
      await deps.storage.db.transaction().execute(async (trx) => {
        const ids = [...new Set(due.map(([key]) => key.split('|')[2]!).filter((id) => id !== ''))];
        const tenants = new Map(ids.length > 0 ? (await trx.selectFrom('ssf_transmitters').select(['id', 'tenant_id']).where('id', 'in', ids).execute()).map((r) => [r.id, r.tenant_id]) : []);
        const entries: NewLedgerEntry[] = due.map(([key, v]) => {
          const [at, code, transmitterId] = key.split('|') as [string, SetErrorCode, string];
          if (transmitterId === '') return { actor: 'ssf:unidentified', action: 'signal.refused', tenantId: null, subjectId: null, data: { code, count: v.count, minute: `${at}Z`, rolledUp: true } };
          return {
            actor: `ssf:${transmitterId}`,
            action: 'signal.refused',
            tenantId: tenants.get(transmitterId) ?? null,
            subjectId: transmitterId,
            data: { transmitterId, code, count: v.count, minute: `${at}Z`, rolledUp: true, jtis: [...v.jtis] },
          };
        });
        await deps.ledger.appendMany(trx, entries);
      });
    } catch (err) {
      // Put back: the next flush tries again (memory stays bounded by minutes × keys).
      for (const [key, v] of due) add(key, v.count, v.jtis);
      deps.logger.warn({ err: (err as Error).message }, 'writing rolled-up SET refusals to the ledger failed; retrying next minute');
    }
  }

  function add(key: string, n: number, jtis: Iterable<string>): void {
    let v = counts.get(key);
    if (!v) counts.set(key, (v = { count: 0, jtis: new Set() }));
    v.count += n;
    for (const j of jtis) if (v.jtis.size < JTIS_PER_ENTRY) v.jtis.add(j);
  }

  function flush(all = false): Promise<void> {
    flushing = (flushing ?? Promise.resolve()).then(() => writeBefore(all ? null : minuteOf(deps.clock.now())));
    return flushing;
  }

  return {
    /** One refusal: anonymous (no transmitter), or of a verified SET of this transmitter (with its jti when known). */
    record(code: SetErrorCode, transmitterId: string | null = null, jti: string | null = null): void {
      add(`${minuteOf(deps.clock.now())}|${code}|${transmitterId ?? ''}`, 1, transmitterId !== null && jti !== null ? [jti.slice(0, 200)] : []);
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
