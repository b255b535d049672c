import type { Db } from '../storage/database.ts';
import type { LeakReportersTable } from '../storage/schema.ts';
import type { LeakReporter } from './leak.contract.ts';

/** The leak_reporters table (018); only src/leaks reads and writes it. */
export function createLeakReporterRepo() {
  return {
    async insert(db: Db, row: LeakReportersTable): Promise<void> {
      await db.insertInto('leak_reporters').values(row).execute();
    },
    async byId(db: Db, id: string): Promise<LeakReportersTable | undefined> {
      return db.selectFrom('leak_reporters').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async byKeyId(db: Db, keyId: string): Promise<LeakReportersTable | undefined> {
      return db.selectFrom('leak_reporters').selectAll().where('key_id', '=', keyId).executeTakeFirst();
    },
    async list(db: Db): Promise<LeakReportersTable[]> {
      return db.selectFrom('leak_reporters').selectAll().orderBy('id').execute();
    },
    async count(db: Db): Promise<number> {
      const row = await db.selectFrom('leak_reporters').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async disable(db: Db, id: string, at: string, by: string): Promise<boolean> {
      const r = await db.updateTable('leak_reporters').set({ state: 'disabled', disabled_at: at, disabled_by: by }).where('id', '=', id).where('state', '=', 'active').executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async touch(db: Db, id: string, at: string): Promise<void> {
      await db.updateTable('leak_reporters').set({ last_report_at: at }).where('id', '=', id).execute();
    },
  };
}

export function toLeakReporter(r: LeakReportersTable): LeakReporter {
  return {
    id: r.id,
    name: r.name,
    keyId: r.key_id,
    publicKey: r.public_key,
    state: r.state,
    createdAt: r.created_at,
    createdBy: r.created_by,
    disabledAt: r.disabled_at,
    disabledBy: r.disabled_by,
    lastReportAt: r.last_report_at,
  };
}
