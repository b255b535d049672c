/**
 * A process that opens a SQLite file with the checkpoint thread, writes until the thread has
 * started, prints STARTED and returns without closing the storage: it must still end on its own
 * (the thread never keeps a process alive). Argument: the database file.
 */
import { sql } from 'kysely';
import { openStorage } from '../../src/storage/database.ts';

const storage = openStorage({ kind: 'sqlite', file: process.argv[2]! }, { checkpointThread: true });
await sql`create table blobs (id integer primary key, body blob not null)`.execute(storage.db);
for (let i = 0; i < 300; i++) await storage.db.transaction().execute((trx) => sql`insert into blobs (body) values (${Buffer.alloc(4_000, i % 256)})`.execute(trx));
const deadline = Date.now() + 10_000;
const autocheckpoint = async () => (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(storage.db)).rows[0]!.wal_autocheckpoint;
while ((await autocheckpoint()) !== 16_384 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
process.stdout.write((await autocheckpoint()) === 16_384 ? 'STARTED\n' : 'NOT STARTED\n');
