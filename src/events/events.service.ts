import fs from 'node:fs/promises';
import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import { moveLedgerCursor, readLedgerCursor } from './ledger-cursor.ts';
import { toOcsf } from './ocsf.ts';

/**
 * The SIEM export: ledger entries as OCSF events, read by cursor (the ledger seq) through the API,
 * and optionally appended to a file as JSON lines (CUSTODY_SIEM_FILE) for a log shipper to tail.
 */
export function createEventService(deps: { ledger: LedgerService; productVersion: string }) {
  return {
    async list(principal: Principal, q: { afterSeq: number; limit: number; tenantId?: string }): Promise<{ items: Record<string, unknown>[]; nextCursor: string }> {
      let tenantId = q.tenantId;
      // A tenant-bound caller reads only its tenant's events; asking for another tenant finds nothing.
      if (principal.tenantId !== null) {
        if (tenantId && tenantId !== principal.tenantId) return { items: [], nextCursor: String(q.afterSeq) };
        tenantId = principal.tenantId;
      }
      const entries = await deps.ledger.list({ tenantId, afterSeq: q.afterSeq, order: 'asc', limit: q.limit });
      return { items: entries.map((e) => toOcsf(e, deps.productVersion)), nextCursor: String(entries.length > 0 ? entries[entries.length - 1]!.seq : q.afterSeq) };
    },
  };
}

export type EventService = ReturnType<typeof createEventService>;

const PAGE = 1_000;

/**
 * The file sink. Invariants: lines are appended in seq order and made durable (fdatasync) before
 * the cursor moves; on start, a torn last line (a crash mid-write) is cut, and the file's own last
 * seq wins over a cursor that lags it (a crash between the write and the cursor's move), so a
 * restart neither skips nor repeats an event. Moving or emptying the file (log rotation) is
 * allowed: the cursor carries on from where it was.
 */
export function createSiemFileSink(deps: { storage: Storage; ledger: LedgerService; clock: Clock; logger: Logger; file: string; productVersion: string; pollMs: number }) {
  const { storage, ledger, clock, file } = deps;
  const cursorName = `siem-file:${file}`.slice(0, 500);
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<number> | null = null;
  let reconciled = false;

  /** The seq of the file's last complete line (0 if none), after cutting a torn tail. */
  async function lastSeqInFile(): Promise<number> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    try {
      const { size } = await handle.stat();
      if (size === 0) return 0;
      const length = Math.min(size, 1 << 20);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      let text = buf.toString('utf8');
      if (!text.endsWith('\n')) {
        const cut = text.lastIndexOf('\n');
        await handle.truncate(size - (length - (cut + 1)));
        deps.logger.warn({ file }, 'SIEM file ended in a torn line (a crash mid-write); cut it');
        text = text.slice(0, cut + 1);
      }
      const lines = text.split('\n').filter(Boolean);
      const last = lines[lines.length - 1];
      if (!last) return 0;
      const seq = (JSON.parse(last) as { metadata?: { sequence?: unknown } }).metadata?.sequence;
      return typeof seq === 'number' ? seq : 0;
    } catch (err) {
      deps.logger.warn({ file, err: (err as Error).message }, 'could not read the SIEM file’s last event; carrying on from the stored cursor');
      return 0;
    } finally {
      await handle.close();
    }
  }

  async function flushOnce(): Promise<number> {
    const stored = await readLedgerCursor(storage, cursorName, clock.now());
    let from = stored;
    if (!reconciled) {
      from = Math.max(stored, await lastSeqInFile());
      reconciled = true;
    }
    let written = 0;
    let cursor = stored;
    const handle = await fs.open(file, 'a', 0o600);
    try {
      for (;;) {
        const entries = await ledger.list({ afterSeq: from, order: 'asc', limit: PAGE });
        if (entries.length === 0) break;
        await handle.write(entries.map((e) => JSON.stringify(toOcsf(e, deps.productVersion))).join('\n') + '\n');
        await handle.datasync();
        const to = entries[entries.length - 1]!.seq;
        // Another process moved it meanwhile (two sinks on one file are not supported): say so, and stop.
        if (!(await storage.db.transaction().execute((trx) => moveLedgerCursor(trx, cursorName, cursor, to, clock.now())))) {
          deps.logger.error({ file }, 'the SIEM file cursor moved under this sink: is another instance writing the same file?');
          break;
        }
        cursor = to;
        from = to;
        written += entries.length;
        if (entries.length < PAGE) break;
      }
    } finally {
      await handle.close();
    }
    return written;
  }

  return {
    /** Appends everything the ledger holds beyond the file; one run at a time. */
    flush(): Promise<number> {
      running ??= flushOnce().finally(() => {
        running = null;
      });
      return running;
    },
    start() {
      if (timer) return;
      timer = setInterval(() => void this.flush().catch((err: Error) => deps.logger.error({ err: err.message, file }, 'SIEM file sink failed; the next tick retries')), deps.pollMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running?.catch(() => {});
    },
  };
}

export type SiemFileSink = ReturnType<typeof createSiemFileSink>;
