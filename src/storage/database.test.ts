import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, describePostgres } from '../../test/support/databases.ts';
import { cachingStatements, openStorage, type Storage } from './database.ts';
import { chunkRows } from './dialect.ts';

describe('SQLite storage shared with another connection', () => {
  let dir: string;
  let storage: Storage | undefined;
  let other: SqliteDatabase.Database | undefined;
  afterEach(async () => {
    other?.close();
    await storage?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a transaction that reads first can still write although another connection writes to the file meanwhile', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-storage-'));
    const file = path.join(dir, 'custody.db');
    storage = openStorage({ kind: 'sqlite', file });
    await sql`create table counters (name text primary key, n integer not null)`.execute(storage.db);
    await sql`insert into counters values ('a', 0), ('b', 0)`.execute(storage.db);
    // The other connection (the usage writer thread, the CLI) does not wait for locks here.
    other = new SqliteDatabase(file);
    other.pragma('busy_timeout = 0');

    let otherWrite: string = 'not tried';
    await storage.db.transaction().execute(async (trx) => {
      const row = await sql<{ n: number }>`select n from counters where name = 'a'`.execute(trx);
      // A deferred transaction would only hold a read snapshot here: the other connection's
      // commit would succeed, and this transaction's write below would then fail at once with
      // SQLITE_BUSY_SNAPSHOT. Begun IMMEDIATE it holds the write lock: the other waits instead.
      try {
        other!.prepare(`update counters set n = n + 1 where name = 'b'`).run();
        otherWrite = 'committed';
      } catch (err) {
        otherWrite = (err as { code?: string }).code ?? 'failed';
      }
      await sql`update counters set n = ${row.rows[0]!.n + 1} where name = 'a'`.execute(trx);
    });
    expect(otherWrite).toBe('SQLITE_BUSY');
    const rows = await sql<{ name: string; n: number }>`select name, n from counters order by name`.execute(storage.db);
    expect(rows.rows).toEqual([
      { name: 'a', n: 1 },
      { name: 'b', n: 0 },
    ]);
  });

  it('reuses prepared statements without mixing up their results', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-storage-'));
    storage = openStorage({ kind: 'sqlite', file: path.join(dir, 'custody.db') });
    await sql`create table items (id integer primary key, label text not null)`.execute(storage.db);
    for (let i = 0; i < 5; i++) await sql`insert into items (label) values (${`item-${i}`})`.execute(storage.db);
    for (let i = 0; i < 5; i++) {
      const r = await sql<{ label: string }>`select label from items where id = ${i + 1}`.execute(storage.db);
      expect(r.rows).toEqual([{ label: `item-${i}` }]);
    }
    // A statement still being stepped by a stream while the same text runs again.
    const stream = storage.db.selectFrom('items' as never).select('label' as never).stream();
    const seen: unknown[] = [];
    for await (const row of stream) seen.push(row);
    expect(seen).toHaveLength(5);
  });
});

describe('a query on the root database inside a SQLite transaction', () => {
  let storage: Storage | undefined;
  afterEach(async () => {
    await storage?.close();
  });

  it('fails at once under test, naming the fix, instead of waiting on its own transaction forever; after the transaction it runs', async () => {
    storage = openStorage({ kind: 'sqlite', file: ':memory:' });
    const db = storage.db;
    await sql`create table items (id integer primary key)`.execute(db);
    const inside = db.transaction().execute(async (trx) => {
      await sql`insert into items (id) values (1)`.execute(trx);
      await sql`select count(*) as n from items`.execute(db);
    });
    await expect(inside).rejects.toThrow(/inside a transaction on SQLite.*run it on the transaction \(trx \/ work\.trx\), or before the transaction begins/);
    // The transaction rolled back and the connection is free again: outside any callback the root database works.
    const rows = await sql<{ n: number }>`select count(*) as n from items`.execute(db);
    expect(rows.rows[0]!.n).toBe(0);
    // Nested callbacks of later transactions are not confused with the first one's.
    await db.transaction().execute(async (trx) => sql`insert into items (id) values (2)`.execute(trx));
    expect((await sql<{ n: number }>`select count(*) as n from items`.execute(db)).rows[0]!.n).toBe(1);
  });
});

describe('SQLite commits units of work in groups', () => {
  let dir: string;
  let storage: Storage | undefined;
  let other: SqliteDatabase.Database | undefined;
  afterEach(async () => {
    other?.close();
    await storage?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  async function open() {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-groups-'));
    const file = path.join(dir, 'custody.db');
    storage = openStorage({ kind: 'sqlite', file });
    await sql`create table items (id integer primary key)`.execute(storage.db);
    // Another connection sees only what is committed.
    other = new SqliteDatabase(file, { readonly: true });
    const stored = other.prepare('select count(*) as n from items where id = ?');
    return { db: storage.db, isStored: (id: number) => (stored.get(id) as { n: number }).n === 1, count: () => (other!.prepare('select count(*) as n from items').get() as { n: number }).n };
  }

  it('grouped units that queue commit together, each `execute` resolving only once its change is stored; alone, or as plain transactions, each commits alone', async () => {
    const { db, isStored, count } = await open();
    const before = storage!.commitGroups!();
    const N = 200;
    const storedWhenAnswered: boolean[] = [];
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        await storage!.grouped(async (trx) => {
          await sql`insert into items (id) values (${i})`.execute(trx);
        });
        storedWhenAnswered[i] = isStored(i);
      }),
    );
    expect(storedWhenAnswered.filter(Boolean)).toHaveLength(N);
    expect(count()).toBe(N);
    const grouped = storage!.commitGroups!();
    expect(grouped.units - before.units).toBe(N);
    // In groups (at most 64 units each), not one COMMIT a unit.
    expect(grouped.commits - before.commits).toBeGreaterThanOrEqual(Math.ceil(N / 64));
    expect(grouped.commits - before.commits).toBeLessThan(N / 4);
    // One after another, nobody waits: each commits on its own.
    for (let i = N; i < N + 5; i++) {
      await storage!.grouped((trx) => sql`insert into items (id) values (${i})`.execute(trx));
      expect(isStored(i)).toBe(true);
    }
    const alone = storage!.commitGroups!();
    expect(alone.commits - grouped.commits).toBe(5);
    // Transactions not declared short never wait for one another, queued or not.
    await Promise.all(Array.from({ length: 20 }, (_, i) => db.transaction().execute((trx) => sql`insert into items (id) values (${1000 + i})`.execute(trx))));
    const plain = storage!.commitGroups!();
    expect(plain.commits - alone.commits).toBe(plain.units - alone.units);
  });

  it('a unit that fails in a group rolls back alone, with its own error; the others commit', async () => {
    const { db, isStored } = await open();
    await sql`insert into items (id) values (1000)`.execute(db);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        storage!.grouped(async (trx) => {
          await sql`insert into items (id) values (${i})`.execute(trx);
          if (i === 4) throw new Error('unit 4 changed its mind');
          // A constraint error: the statement fails, the transaction goes on.
          if (i === 7) await sql`insert into items (id) values (1000)`.execute(trx);
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(String((results[4] as PromiseRejectedResult).reason)).toContain('unit 4 changed its mind');
    expect(String((results[7] as PromiseRejectedResult).reason)).toContain('UNIQUE constraint failed');
    expect(Array.from({ length: 10 }, (_, i) => isStored(i))).toEqual([true, true, true, true, false, true, true, false, true, true]);
  });

  it('a unit whose error ends the whole transaction fails the units that waited in it, and none of their changes stand; the next unit works', async () => {
    const { db, isStored, count } = await open();
    await sql`create table doomed (id integer)`.execute(db);
    await sql`create trigger doomed_insert before insert on doomed begin select raise(rollback, 'the whole transaction goes'); end`.execute(db);
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) =>
        storage!.grouped(async (trx) => {
          if (i < 4) await sql`insert into items (id) values (${i})`.execute(trx);
          else await sql`insert into doomed (id) values (1)`.execute(trx);
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/A change was lost: the transaction it was committed in together with other changes was rolled back/);
    expect(String((results[4] as PromiseRejectedResult).reason)).toContain('the whole transaction goes');
    expect(count()).toBe(0);
    await storage!.grouped((trx) => sql`insert into items (id) values (9)`.execute(trx));
    expect(isStored(9)).toBe(true);

    // The same error caught by the unit, which goes on as if nothing happened: it is told its
    // change was lost (nothing of it was stored), and the units behind it commit on their own.
    const caught = await Promise.allSettled(
      Array.from({ length: 4 }, (_, i) =>
        storage!.grouped(async (trx) => {
          await sql`insert into items (id) values (${20 + i})`.execute(trx);
          if (i === 0) {
            await sql`insert into doomed (id) values (1)`.execute(trx).catch(() => undefined);
            // Its transaction is gone: a later statement would commit on its own. It is refused.
            await sql`insert into items (id) values (120)`.execute(trx).catch(() => undefined);
          }
        }),
      ),
    );
    expect(caught.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(String((caught[0] as PromiseRejectedResult).reason)).toMatch(/A change was lost: the database rolled back the transaction it was made in/);
    expect([20, 21, 22, 23, 120].map(isStored)).toEqual([false, true, true, true, false]);
  });

  it('a plain query that queues behind a group runs after the group has committed', async () => {
    const { db, count } = await open();
    const units = Array.from({ length: 5 }, (_, i) => storage!.grouped((trx) => sql`insert into items (id) values (${i})`.execute(trx)));
    let storedWhenQueried = -1;
    const plain = sql<{ n: number }>`select count(*) as n from items`.execute(db).then((r) => {
      storedWhenQueried = count();
      return r.rows[0]!.n;
    });
    await Promise.all(units);
    expect(await plain).toBe(5);
    expect(storedWhenQueried).toBe(5);
  });

  it('closed while grouped units run, at any moment: a unit told it succeeded is stored whole, one told it failed stored nothing', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-groups-'));
    const seen = new Set<string>();
    for (let k = 0; k < 80; k++) {
      const file = path.join(dir, `close-${k}.db`);
      const s = openStorage({ kind: 'sqlite', file });
      await sql`create table items (id integer primary key)`.execute(s.db);
      // Each unit writes a change and its "ledger entry"; the close comes k promise turns later.
      const units = Array.from({ length: 4 }, (_, i) =>
        s.grouped(async (trx) => {
          await sql`insert into items (id) values (${i})`.execute(trx);
          await sql`insert into items (id) values (${100 + i})`.execute(trx);
        }),
      );
      for (let t = 0; t < k; t++) await Promise.resolve();
      const closing = s.close();
      const outcomes = await Promise.allSettled(units);
      await closing.catch(() => undefined);
      const check = new SqliteDatabase(file, { readonly: true });
      const stored = new Set((check.prepare('select id from items').all() as { id: number }[]).map((r) => r.id));
      check.close();
      outcomes.forEach((o, i) => {
        const whole = stored.has(i) && stored.has(100 + i);
        const none = !stored.has(i) && !stored.has(100 + i);
        seen.add(o.status);
        expect({ k, unit: i, status: o.status, whole, none }).toEqual({ k, unit: i, status: o.status, whole: o.status === 'fulfilled', none: o.status === 'rejected' });
      });
    }
    // The moments covered both outcomes.
    expect(seen).toEqual(new Set(['fulfilled', 'rejected']));
  });

  it('a grouped unit is never held for a transaction that is not grouped, however long that one runs', async () => {
    const { db, isStored } = await open();
    let answeredWhileLongRan = false;
    let longRunning = true;
    const quick = storage!.grouped((trx) => sql`insert into items (id) values (1)`.execute(trx)).then(() => {
      answeredWhileLongRan = longRunning && isStored(1);
    });
    const long = db.transaction().execute(async (trx) => {
      await sql`insert into items (id) values (2)`.execute(trx);
      await new Promise((r) => setTimeout(r, 300));
      longRunning = false;
    });
    await Promise.all([quick, long]);
    expect(answeredWhileLongRan).toBe(true);
  });

  it('a grouped unit that waits for another unit of work is rolled back after a second, with the reason; the one it waited for commits; no write is stopped', async () => {
    const { isStored } = await open();
    const first = storage!.grouped((trx) => sql`insert into items (id) values (1)`.execute(trx));
    const started = performance.now();
    const waiting = storage!.grouped(async (trx) => {
      await first; // held for this very unit: without the stall limit, neither would ever end
      await sql`insert into items (id) values (2)`.execute(trx);
    });
    await expect(waiting).rejects.toThrow(/rolled back: it ran for over 1000 ms while changes committed before it waited for it .*must not wait for another unit of work/);
    expect(performance.now() - started).toBeLessThan(5_000);
    await first;
    expect([1, 2].map(isStored)).toEqual([true, false]);
    await storage!.grouped((trx) => sql`insert into items (id) values (3)`.execute(trx));
    expect(isStored(3)).toBe(true);
  });
});

describe('SQLite files are readable by their owner only', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates the data directory 0700 and the database, its WAL and shared-memory files 0600', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-modes-'));
    const file = path.join(dir, 'data', 'custody.db');
    const storage = openStorage({ kind: 'sqlite', file });
    await sql`create table t (x integer)`.execute(storage.db);
    await sql`insert into t values (1)`.execute(storage.db);
    const mode = (f: string) => (fs.statSync(f).mode & 0o777).toString(8);
    expect(mode(path.dirname(file))).toBe('700');
    expect(mode(file)).toBe('600');
    for (const extra of ['-wal', '-shm']) if (fs.existsSync(file + extra)) expect(mode(file + extra)).toBe('600');
    await storage.close();
  });

  it('tightens a database file left readable by others', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-modes-'));
    const file = path.join(dir, 'custody.db');
    new SqliteDatabase(file).close();
    fs.chmodSync(file, 0o644);
    const storage = openStorage({ kind: 'sqlite', file });
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');
    await storage.close();
  });
});

describePostgres('PostgreSQL storage when the server ends a connection', (kind) => {
  it('a connection ended in the middle of a transaction fails that transaction, not the process; the next one works', async () => {
    const db = await createTestDatabase(kind);
    const storage = openStorage(db.config);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const failed = await storage.db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          // Idle in transaction, as between two queries of a unit of work: the server ends it.
          await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
          await new Promise((r) => setTimeout(r, 200));
          await sql`select 1`.execute(trx);
          return 'committed';
        })
        .catch((err: Error) => `failed: ${err.message}`);
      expect(failed).toMatch(/^failed: /);
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(storage.db);
      expect(rows[0]!.one).toBe(1);
    } finally {
      await admin.end();
      await storage.close();
      await db.drop();
    }
  });
});

describeEachDatabase('multi-row inserts (insertRows)', (kind) => {
  it('write every row as given, across statements, and skip duplicates when asked', async () => {
    const db = await createTestDatabase(kind);
    const storage = openStorage(db.config);
    try {
      await sql`create table items (id text primary key, kind text not null, n integer, note text, unique (kind, n))`.execute(storage.db);
      // 12,000 rows of 4 columns: more than one statement's worth on SQLite (30,000 values each).
      const rows = Array.from({ length: 12_000 }, (_, i) => ({ id: `i${i}`, kind: i % 2 ? 'odd' : 'even', n: i, note: i === 7 ? null : `it's "${i}"` }));
      await storage.dialect.insertRows(storage.db as never, 'items', rows);
      // A duplicate of (kind, n) is skipped, the new row beside it written.
      await storage.dialect.insertRows(storage.db as never, 'items', [{ id: 'dup', kind: 'odd', n: 1, note: 'x' }, { id: 'new', kind: 'odd', n: 20_001, note: 'y' }], ['kind', 'n']);
      const { rows: got } = await sql<{ id: string; kind: string; n: number; note: string | null }>`select id, kind, n, note from items order by n`.execute(storage.db);
      expect(got).toHaveLength(12_001);
      expect(got.slice(0, 12_000)).toEqual(rows);
      expect(got[12_000]).toEqual({ id: 'new', kind: 'odd', n: 20_001, note: 'y' });
    } finally {
      await storage.close();
      await db.drop();
    }
  });
});

describe('what SQLite keeps prepared is bounded', () => {
  it('keeps statements up to a total length of text, drops the oldest first, and never keeps a very long one', () => {
    const sqlite = new SqliteDatabase(':memory:');
    try {
      sqlite.exec('create table t (a, b, c, d)');
      const cache = cachingStatements(sqlite);
      const insertOf = (rows: number) => `insert into t (a, b, c, d) values ${Array.from({ length: rows }, () => '(?, ?, ?, ?)').join(', ')}`;
      const first = cache.prepare(insertOf(400));
      expect(cache.prepare(insertOf(400))).toBe(first);
      // 400 statements of 400 to 799 rows: ~8 MB of text, ~300 MB prepared if all were kept.
      for (let rows = 401; rows < 800; rows++) cache.prepare(insertOf(rows));
      const kept = cache.kept();
      expect(kept.text).toBeLessThanOrEqual(1_000_000);
      expect(kept.statements).toBeGreaterThan(10);
      // The newest is kept (and reused), the oldest gone.
      expect(cache.prepare(insertOf(799))).toBe(cache.prepare(insertOf(799)));
      expect(cache.prepare(insertOf(400))).not.toBe(first);
      const long = `select 1 where 1 in (${Array.from({ length: 110_000 }, () => '1').join(',')})`;
      expect(long.length).toBeGreaterThan(200_000);
      const before = cache.kept();
      cache.prepare(long);
      expect(cache.kept()).toEqual(before);
    } finally {
      sqlite.close();
    }
  });

  it('multi-row inserts take a few shapes: a power of two rows a statement, under 30,000 parameters', () => {
    const sizes = (n: number, columns: number) => {
      const out: number[] = [];
      for (let left = n; left > 0; left -= out.at(-1)!) out.push(chunkRows(left, columns));
      return out;
    };
    expect(sizes(1_337, 20)).toEqual([1_024, 256, 32, 16, 8, 1]);
    expect(sizes(5_000, 9)).toEqual([2_048, 2_048, 512, 256, 128, 8]);
    for (const [n, columns] of [[1, 1], [99_999, 3], [7, 40_000]] as const) {
      const s = sizes(n, columns);
      expect(s.reduce((a, b) => a + b, 0)).toBe(n);
      for (const k of s) {
        expect(k & (k - 1)).toBe(0);
        expect(k === 1 || k * columns <= 30_000).toBe(true);
      }
    }
  });
});

describe('SQLite checkpoints on a thread of their own', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('copies the write-ahead log into the file off the serving thread once it passes 1 MB, and stops with the storage', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-checkpoints-'));
    const file = path.join(dir, 'custody.db');
    const storage = openStorage({ kind: 'sqlite', file }, { checkpointThread: true });
    try {
      await sql`create table blobs (id integer primary key, body blob not null)`.execute(storage.db);
      const autocheckpoint = async () => (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(storage.db)).rows[0]!.wal_autocheckpoint;
      expect(await autocheckpoint()).toBe(1_000);
      // ~1.2 MB in 300 commits: in the log, none of it in the file yet (SQLite's own threshold is 1,000 pages).
      for (let i = 0; i < 300; i++) await storage.db.transaction().execute((trx) => sql`insert into blobs (body) values (${Buffer.alloc(4_000, i % 256)})`.execute(trx));
      expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(1_048_576);
      expect(fs.statSync(file).size).toBeLessThan(100_000);
      // Within a few seconds the thread has started (the connection's own checkpoint is then a
      // backstop at 64 MB) and copied the log into the file.
      const deadline = Date.now() + 10_000;
      while (fs.statSync(file).size < 1_200_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(fs.statSync(file).size).toBeGreaterThanOrEqual(1_200_000);
      expect(await autocheckpoint()).toBe(16_384);
      const rows = await sql<{ n: number }>`select count(*) as n from blobs`.execute(storage.db);
      expect(rows.rows[0]!.n).toBe(300);
    } finally {
      await storage.close();
    }
    // Closed with its thread: the file opens and reads as written.
    const again = new SqliteDatabase(file, { readonly: true });
    try {
      expect(again.prepare('select count(*) as n from blobs').get()).toEqual({ n: 300 });
    } finally {
      again.close();
    }
  });

  it('never keeps a process alive: one that ends without closing its storage still exits', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-checkpoints-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/checkpoint-child.ts', path.join(dir, 'custody.db')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = await new Promise<number | string | null>((resolve) => {
      const hung = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('still running after 20 s');
      }, 20_000);
      child.on('exit', (code, signal) => {
        clearTimeout(hung);
        resolve(signal ?? code);
      });
    });
    expect({ exit, out, err: err.slice(-2_000) }).toEqual({ exit: 0, out: 'STARTED\n', err: '' });
  }, 30_000);
});
