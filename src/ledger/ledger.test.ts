import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createCustody, type Custody } from '../app/custody.ts';
import { systemPrincipal } from '../auth/roles.ts';
import { loadConfig } from '../config/config.ts';
import { createLogger } from '../shared/logger.ts';
import type { Db } from '../storage/database.ts';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, seed, startHarness, testKeyring, type Harness } from '../../test/support/harness.ts';
import { runCli } from '../../test/support/cli.ts';
import { canonicalText, entryHash } from './ledger.chain.ts';
import { createLedgerRangeScan } from './ledger.repo.ts';
import { toChainEntry } from './ledger.scan.ts';
import type { VerifyResult } from './ledger.types.ts';

const CHECKPOINT_EVERY = 5;
/** 23 entries: checkpoints at 5, 10, 15, 20, and an unsigned tail 21–23. */
const ENTRIES = 23;
/** Above the 5,000 entries a ledger must exceed to be walked in worker threads, and more than one page (5,000) of the walk. */
const BULK = 6_000;
/** On the walk's second page. */
const EDITED_IN_BULK = 5_501;

/** A fresh Custody (its services; no HTTP server) on a database of its own, and where that database is. */
interface Ledgered {
  custody: Custody;
  keyring: string;
  url: string;
}

function databaseUrl(db: TestDatabase): string {
  return db.config.kind === 'sqlite' ? db.config.file : db.config.url;
}

/**
 * A copy of a database no connection has open, as a test database of its own: a file copy on
 * SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL.
 */
async function copyOf(template: TestDatabase): Promise<TestDatabase> {
  const name = `custody_t_${randomBytes(6).toString('hex')}`;
  if (template.config.kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-test-'));
    const file = path.join(dir, `${name}.db`);
    for (const suffix of ['', '-wal']) if (fs.existsSync(template.config.file + suffix)) fs.copyFileSync(template.config.file + suffix, file + suffix);
    return { kind: 'sqlite', file, config: { kind: 'sqlite', file }, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const adminUrl = process.env.CUSTODY_TEST_POSTGRES_URL!;
  const admin = async (statement: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(statement);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name} TEMPLATE ${new URL(template.config.url).pathname.slice(1)}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { kind: 'postgres', url: url.toString(), config: { kind: 'postgres', url: url.toString() }, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * Runs `fn` as an attacker with database rights would: past the append-only triggers. SQLite:
 * drop the triggers, tamper, recreate them (DDL is transactional there). PostgreSQL: replica
 * mode skips ordinary triggers for this transaction only.
 */
async function asAttacker(h: { custody: Custody }, fn: (trx: Db) => Promise<unknown>): Promise<void> {
  const { db, dialect } = h.custody.storage;
  await db.transaction().execute(async (trx) => {
    if (dialect.kind === 'sqlite') {
      for (const t of ['ledger_entries', 'ledger_checkpoints']) for (const op of ['update', 'delete']) await sql.raw(`DROP TRIGGER ${t}_no_${op}`).execute(trx);
    } else {
      await sql`SET LOCAL session_replication_role = replica`.execute(trx);
    }
    await fn(trx);
    if (dialect.kind === 'sqlite') {
      for (const t of ['ledger_entries', 'ledger_checkpoints']) for (const s of dialect.appendOnlyGuards(t)) await sql.raw(s).execute(trx);
    }
  });
}

async function rowAt(db: Db, seq: number) {
  return db.selectFrom('ledger_entries').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
}

function kinds(r: VerifyResult): string[] {
  return [...new Set(r.problems.map((p) => p.kind))].sort();
}

describeEachDatabase('ledger', (kind) => {
  // Every test gets a fresh Custody on a database of its own whose ledger holds exactly ENTRIES
  // entries from real activity plus filler. Migrating and seeding a database, and starting the HTTP
  // server, take seconds each: the database is built once and copied for each test, and only the
  // test of the HTTP route starts a server.
  const keyring = testKeyring();
  const configFor = (db: TestDatabase) =>
    loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: databaseUrl(db), CUSTODY_KEYRING: keyring, CUSTODY_LEDGER_CHECKPOINT_EVERY: String(CHECKPOINT_EVERY) });
  // The services `serve` runs, without its timers; enforcement passes only when a test asks.
  const openCustody = (db: TestDatabase, options: { migrate?: boolean; readOnly?: boolean } = {}) =>
    createCustody(configFor(db), { logger: createLogger('silent'), enforceAfterChanges: false, ...options });
  let template: TestDatabase;
  const copies: TestDatabase[] = [];
  const open: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    template = await createTestDatabase(kind);
    // Read-only: closing it signs no checkpoint over the unsigned tail.
    const custody = await openCustody(template, { migrate: true, readOnly: true });
    try {
      // seed() reads only these two of a harness.
      await seed({ custody, admin: systemPrincipal('test') } as Harness);
      const have = (await custody.ledger.verify()).entries;
      await custody.storage.db.transaction().execute((trx) =>
        custody.ledger.appendMany(
          trx,
          Array.from({ length: ENTRIES - have }, (_, i) => ({ actor: 'test', action: 'test.event', data: { n: i } })),
        ),
      );
    } finally {
      await custody.close();
    }
  });
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
  });
  afterAll(async () => {
    // Dropped together: on PostgreSQL each drop waits for a checkpoint, which concurrent drops share.
    await Promise.all([...copies.splice(0), ...(template ? [template] : [])].map((db) => db.drop()));
  });

  /** A fresh Custody whose ledger holds exactly ENTRIES entries from real activity plus filler. */
  async function ledgered(): Promise<Ledgered> {
    const db = await copyOf(template);
    copies.push(db);
    const custody = await openCustody(db);
    open.push(custody);
    return { custody, keyring, url: databaseUrl(db) };
  }

  /** The same, served over HTTP (the harness `serve` uses). */
  async function ledgeredServer(): Promise<Harness> {
    const db = await copyOf(template);
    copies.push(db);
    const h = await startHarness(kind, { keyring, database: db, env: { CUSTODY_LEDGER_CHECKPOINT_EVERY: String(CHECKPOINT_EVERY) } });
    open.push(h);
    return h;
  }

  it('verifies an untouched ledger, with every signed checkpoint valid', async () => {
    const h = await ledgered();
    const r = await h.custody.ledger.verify();
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.entries).toBe(ENTRIES);
    expect(r.lastSeq).toBe(ENTRIES);
    expect(r.checkpoints).toEqual({ total: 4, verified: 4, lastSeq: 20, unanchored: ENTRIES - 20 });
  });

  it('walks a ledger larger than a page in worker threads, off the serving thread, and still finds an edit; so does the CLI', async () => {
    const h = await ledgered();
    await h.custody.storage.db.transaction().execute((trx) =>
      h.custody.ledger.appendMany(trx, Array.from({ length: BULK }, (_, i) => ({ actor: 'test', action: 'test.bulk', subjectId: `s${i}`, data: { n: i } }))),
    );
    const progress: number[] = [];
    // Two callers at once share one verification (the first caller's progress is reported).
    const [clean, second] = await Promise.all([h.custody.ledger.verify((p) => progress.push(p.checked)), h.custody.ledger.verify()]);
    expect(second).toBe(clean);
    expect(clean).toMatchObject({ ok: true, entries: ENTRIES + BULK, lastSeq: ENTRIES + BULK });
    expect(clean.threads).toBeGreaterThanOrEqual(1);
    expect(progress.at(-1)).toBe(ENTRIES + BULK);

    await asAttacker(h, (trx) => trx.updateTable('ledger_entries').set({ data: '{"n":"forged"}' }).where('seq', '=', EDITED_IN_BULK).execute());
    const tampered = await h.custody.ledger.verify();
    expect(tampered.ok).toBe(false);
    expect(tampered.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: EDITED_IN_BULK }));
    const cli = await runCli(['ledger', 'verify', '--json', '--database-url', h.url], { CUSTODY_KEYRING: h.keyring });
    expect(cli.code).toBe(6);
    expect((JSON.parse(cli.stdout) as VerifyResult).problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: EDITED_IN_BULK }));
  }, 60_000);

  it('refuses UPDATE and DELETE on ledger entries and checkpoints in the database itself', async () => {
    const h = await ledgered();
    const db = h.custody.storage.db;
    await expect(db.updateTable('ledger_entries').set({ actor: 'mallory' }).where('seq', '=', 3).execute()).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom('ledger_entries').where('seq', '=', 3).execute()).rejects.toThrow(/append-only/);
    await expect(db.updateTable('ledger_checkpoints').set({ signature: 'x' }).where('seq', '=', 5).execute()).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom('ledger_checkpoints').execute()).rejects.toThrow(/append-only/);
    if (kind === 'postgres') {
      await expect(sql`TRUNCATE ledger_entries`.execute(db)).rejects.toThrow(/append-only/);
      await expect(sql`TRUNCATE ledger_checkpoints`.execute(db)).rejects.toThrow(/append-only/);
    }
    expect((await rowAt(db, 3)).actor).not.toBe('mallory');
    expect((await h.custody.ledger.verify()).ok).toBe(true);
  });

  it('detects an entry whose data was edited, and names it', async () => {
    const h = await ledgered();
    await asAttacker(h, (trx) => trx.updateTable('ledger_entries').set({ data: '{"n":999}' }).where('seq', '=', 17).execute());
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: 17 }));
    expect(kinds(r)).toEqual(['edited']);
  });

  it('verifies entries with characters the database counts apart from JavaScript, and finds an edit however the attacker stores it', async () => {
    const h = await ledgered();
    const { db, dialect } = h.custody.storage;
    const sqlite = dialect.kind === 'sqlite';
    await db.transaction().execute((trx) =>
      h.custody.ledger.appendMany(trx, [
        { actor: 'person:🧑‍💻 ada', action: 'test.emoji', data: { note: 'revoked 🔥 at once', n: 1 } },
        { actor: '123', action: 'test.digits', data: { n: 2 } },
        // Half of a character beyond the BMP: stored (and so hashed) as U+FFFD.
        { actor: 'lone\uD800', action: 'test.lone', data: { n: 3 } },
        // Runs of U+FFFD, which invalid UTF-8 of another length decodes to as well.
        { actor: 'a', action: 'test.fffd', tenantId: '\uFFFD'.repeat(4), subjectId: `${'\uFFFD'.repeat(3)}~`, data: { n: 4 } },
        ...(sqlite ? [{ actor: 'nul\u0000inside', action: 'test.nul', data: { n: 5 } }] : []),
      ]),
    );
    const first = ENTRIES + 1;
    const last = first + (sqlite ? 4 : 3);
    // The long scan's text is the hashed text for every ordinary entry; on SQLite, where the
    // database builds it, those it counts apart from JavaScript differ (the walk reads them, and
    // any with U+FFFD, field by field).
    const rows = await db.selectFrom('ledger_entries').selectAll().orderBy('seq').execute();
    const scan = createLedgerRangeScan(h.custody.storage);
    expect(scan.textFromDatabase).toBe(sqlite);
    const page = await scan.page(0, last, last);
    expect(page.map((r) => r[0])).toEqual(rows.map((r) => Number(r.seq)));
    for (const [i, row] of rows.entries()) {
      const e = toChainEntry(row);
      if (sqlite && ['test.emoji', 'test.nul'].includes(e.action)) expect(page[i]![1]).not.toBe(canonicalText(e));
      else expect(page[i]![1]).toBe(canonicalText(e));
      expect(page[i]!.slice(2)).toEqual([e.prevHash, e.hash]);
    }
    expect(rows.find((r) => r.action === 'test.lone')!.actor).toBe('lone\uFFFD');
    const clean = await h.custody.ledger.verify();
    expect(clean.problems).toEqual([]);
    expect(clean.ok).toBe(true);
    // The entry beyond the BMP, edited: found and named.
    await asAttacker(h, (trx) => trx.updateTable('ledger_entries').set({ data: '{"note":"revoked 🔥 later","n":1}' }).where('seq', '=', first).execute());
    let r = await h.custody.ledger.verify();
    expect(r.problems).toContainEqual({ kind: 'edited', seq: first, message: `entry ${first} (test.emoji) does not match its hash: it was edited` });
    if (sqlite) {
      // The same bytes stored as a blob (a column's declared type does not bind SQLite) are not
      // the text that was hashed: an edit, ASCII or not.
      await asAttacker(h, (trx) => sql`update ledger_entries set actor = cast(actor as blob) where seq in (${first + 1}, ${first + 2})`.execute(trx));
      expect((await sql<{ t: string }>`select typeof(actor) as t from ledger_entries where seq = ${first + 1}`.execute(db)).rows[0]!.t).toBe('blob');
      r = await h.custody.ledger.verify();
      expect(r.problems.map((p) => p.seq)).toEqual([first, first + 1, first + 2]);
      // Invalid UTF-8 that SQLite counts as 4 characters and JavaScript reads as 9 moves a field
      // boundary: the database's text stays the hashed one, byte for byte, but the entry changed.
      await asAttacker(h, (trx) => sql`update ledger_entries set tenant_id = cast(x'c080808034' || ':' || x'c08080' as text), subject_id = null where seq = ${first + 3}`.execute(trx));
      r = await h.custody.ledger.verify();
      expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: first + 3 }));
      // Text hidden after a NUL (where SQLite's length() stops counting): an edit all the same.
      await asAttacker(h, (trx) => sql`update ledger_entries set data = data || char(0) || 'hidden' where seq = 3`.execute(trx));
      r = await h.custody.ledger.verify();
      expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: 3 }));
    } else {
      // Columns turned to char(n) (PostgreSQL pads them, and its length() and || ignore the padding)
      // and data to jsonb: every entry reads as edited, and verify does not fail on the types.
      await asAttacker(h, (trx) => sql`alter table ledger_entries alter column actor type char(60), alter column data type jsonb using data::jsonb`.execute(trx));
      r = await h.custody.ledger.verify();
      expect(r.ok).toBe(false);
      expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: 1 }));
      expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: first + 1 }));
    }
  });

  it('detects a middle entry that was deleted', async () => {
    const h = await ledgered();
    await asAttacker(h, (trx) => trx.deleteFrom('ledger_entries').where('seq', '=', 12).execute());
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'deleted', seq: 12 }));
    expect(kinds(r)).toEqual(['deleted']);
  });

  it('detects a deleted entry even when the later ones were renumbered to close the gap', async () => {
    const h = await ledgered();
    await asAttacker(h, async (trx) => {
      await trx.deleteFrom('ledger_entries').where('seq', '=', 22).execute();
      await trx.updateTable('ledger_entries').set({ seq: 22 }).where('seq', '=', 23).execute();
    });
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'deleted', seq: 22 }));
  });

  it('detects two entries whose positions were swapped as reordered', async () => {
    const h = await ledgered();
    await asAttacker(h, async (trx) => {
      await trx.updateTable('ledger_entries').set({ seq: -1 }).where('seq', '=', 8).execute();
      await trx.updateTable('ledger_entries').set({ seq: 8 }).where('seq', '=', 9).execute();
      await trx.updateTable('ledger_entries').set({ seq: 9 }).where('seq', '=', -1).execute();
    });
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'reordered', seq: 8 }));
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'reordered', seq: 9 }));
    expect(kinds(r)).toEqual(['reordered']);
  });

  it('detects a tail cut back past the last signed checkpoint as truncated', async () => {
    const h = await ledgered();
    await asAttacker(h, (trx) => trx.deleteFrom('ledger_entries').where('seq', '>', 18).execute());
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.lastSeq).toBe(18);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'truncated', seq: 20 }));
    expect(kinds(r)).toEqual(['truncated']);
  });

  it('detects the newest entries cut once checkpointNow has signed the head (as serve does on a timer and at shutdown)', async () => {
    const h = await ledgered();
    expect(await h.custody.ledger.checkpointNow()).toMatchObject({ seq: ENTRIES, keyId: h.custody.vault.ledgerSigner.keyId });
    expect(await h.custody.ledger.checkpointNow()).toBeNull();
    await asAttacker(h, (trx) => trx.deleteFrom('ledger_entries').where('seq', '>', 20).execute());
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'truncated', seq: ENTRIES }));
  });

  it('catches a rewritten history with recomputed hashes through the signed checkpoint', async () => {
    const h = await ledgered();
    await asAttacker(h, async (trx) => {
      const rows = await trx.selectFrom('ledger_entries').selectAll().where('seq', '>=', 7).orderBy('seq').execute();
      let prevHash = (await rowAt(trx, 6)).hash;
      for (const row of rows) {
        const data = Number(row.seq) === 7 ? '{"rewritten":true}' : row.data;
        const hash = entryHash({ at: row.at, actor: row.actor, action: row.action, tenantId: row.tenant_id, subjectId: row.subject_id, data, prevHash });
        await trx.updateTable('ledger_entries').set({ data, prev_hash: prevHash, hash }).where('seq', '=', row.seq).execute();
        prevHash = hash;
      }
    });
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    // The chain itself is consistent again: only the signatures betray the rewrite.
    expect(kinds(r)).toEqual(['checkpoint_mismatch']);
    expect(r.problems.map((p) => p.seq)).toEqual([10, 15, 20]);
  });

  it('rejects a checkpoint whose signature was forged', async () => {
    const h = await ledgered();
    await asAttacker(h, async (trx) => {
      const sig = Buffer.from((await trx.selectFrom('ledger_checkpoints').select('signature').where('seq', '=', 15).executeTakeFirstOrThrow()).signature, 'base64');
      sig[0] = sig[0]! ^ 0xff;
      await trx.updateTable('ledger_checkpoints').set({ signature: sig.toString('base64') }).where('seq', '=', 15).execute();
    });
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ kind: 'bad_signature', seq: 15 })]);
    expect(r.checkpoints).toMatchObject({ total: 4, verified: 3 });
  });

  it('rejects a checkpoint inserted by an attacker without the signing key', async () => {
    const h = await ledgered();
    const head = await rowAt(h.custody.storage.db, ENTRIES);
    // INSERT is allowed (the ledger is append-only, not read-only), so forging needs no trigger bypass.
    await h.custody.storage.db
      .insertInto('ledger_checkpoints')
      .values({ seq: ENTRIES, hash: head.hash, at: head.at, key_id: h.custody.vault.ledgerSigner.keyId, signature: Buffer.alloc(64, 7).toString('base64') })
      .execute();
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ kind: 'bad_signature', seq: ENTRIES })]);
  });

  it('answers GET /v1/ledger/verify with ok for an untouched ledger and with the problems after tampering', async () => {
    const h = await ledgeredServer();
    const auditor = await keyFor(h, 'auditor');
    const before = await h.app.inject({ url: '/v1/ledger/verify', headers: bearer(auditor) });
    expect(before.statusCode).toBe(200);
    expect(before.json()).toMatchObject({ ok: true, problems: [], checkpoints: { verified: 4 } });
    const entriesBefore = before.json().entries as number;
    expect(entriesBefore).toBeGreaterThanOrEqual(ENTRIES);

    await asAttacker(h, (trx) => trx.updateTable('ledger_entries').set({ actor: 'mallory' }).where('seq', '=', 4).execute());
    const after = await h.app.inject({ url: '/v1/ledger/verify', headers: bearer(auditor) });
    expect(after.statusCode).toBe(200);
    expect(after.json().ok).toBe(false);
    expect(after.json().problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: 4 }));
    // The security team hears of it: a critical alert, with the first problems as evidence.
    const alerts = async () => (await h.app.inject({ url: '/v1/alerts?kind=ledger_tampered', headers: bearer(auditor) })).json().items as { id: string; severity: string; message: string }[];
    await expect.poll(async () => (await alerts()).length).toBe(1);
    const [alert] = await alerts();
    expect(alert!.severity).toBe('critical');
    expect(alert!.message).toContain('edited at seq 4');
    const detail = (await h.app.inject({ url: `/v1/alerts/${alert!.id}`, headers: bearer(auditor) })).json() as { evidence: { problems: { kind: string; seq: number }[] }[] };
    expect(detail.evidence.at(-1)!.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: 4 }));

    const tenantAdmin = await keyFor(h, 'tenant_admin', (await h.custody.tenants.list(h.admin))[0]!.id);
    const refused = await h.app.inject({ url: '/v1/ledger/verify', headers: bearer(tenantAdmin) });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('forbidden');
  });

  it('reports the running verification’s progress and how the last one ended on GET /v1/ledger/verify/progress', async () => {
    const h = await ledgeredServer();
    const auditor = await keyFor(h, 'auditor');
    const idle = await h.app.inject({ url: '/v1/ledger/verify/progress', headers: bearer(auditor) });
    expect(idle.statusCode).toBe(200);
    expect(idle.json()).toEqual({ running: false, startedAt: null, checked: 0, total: 0, last: null });

    // Read while a verification runs (at each step it reports): what it has walked of the total.
    const seen: ReturnType<typeof h.custody.ledger.verifyProgress>[] = [];
    const result = await h.custody.ledger.verify(() => seen.push(h.custody.ledger.verifyProgress()));
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const p of seen) expect(p).toMatchObject({ running: true, total: result.entries, last: null });
    expect(seen[0]!.checked).toBe(0);
    expect(seen.at(-1)!.checked).toBe(result.entries);

    const after = (await h.app.inject({ url: '/v1/ledger/verify/progress', headers: bearer(auditor) })).json();
    expect(after).toMatchObject({ running: false, checked: 0, last: { ok: true, entries: result.entries, problems: 0, error: null } });
    expect(Date.parse(after.last.finishedAt)).toBeGreaterThanOrEqual(Date.parse(after.last.startedAt));

    await asAttacker(h, (trx) => trx.updateTable('ledger_entries').set({ actor: 'mallory' }).where('seq', '=', 4).execute());
    await h.app.inject({ url: '/v1/ledger/verify', headers: bearer(auditor) });
    expect((await h.app.inject({ url: '/v1/ledger/verify/progress', headers: bearer(auditor) })).json().last).toMatchObject({ ok: false, problems: 1 });
  });

  it('runs `custody ledger verify --json`: exit 0 when untouched, exit 6 (tampered) with the problems after tampering, no progress bar when not on a terminal', async () => {
    const h = await ledgered();
    const args = ['ledger', 'verify', '--json', '--database-url', h.url];
    const ok = await runCli(args, { CUSTODY_KEYRING: h.keyring });
    expect(ok.stderr).not.toContain('Verifying ledger');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, entries: ENTRIES, checkpoints: { verified: 4 } });

    await asAttacker(h, (trx) => trx.deleteFrom('ledger_entries').where('seq', '=', 11).execute());
    const bad = await runCli(args, { CUSTODY_KEYRING: h.keyring });
    expect(bad.code).toBe(6);
    const result = JSON.parse(bad.stdout) as VerifyResult;
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual(expect.objectContaining({ kind: 'deleted', seq: 11 }));
  }, 60_000);
});
