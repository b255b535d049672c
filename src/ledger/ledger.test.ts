import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import type { Db } from '../storage/database.ts';
import { describeEachDatabase, type DatabaseKind } from '../../test/support/databases.ts';
import { bearer, keyFor, seed, startHarness, testKeyring, type Harness } from '../../test/support/harness.ts';
import { runCli } from '../../test/support/cli.ts';
import { entryHash } from './ledger.chain.ts';
import type { VerifyResult } from './ledger.types.ts';

const CHECKPOINT_EVERY = 5;
/** 23 entries: checkpoints at 5, 10, 15, 20, and an unsigned tail 21–23. */
const ENTRIES = 23;

interface Ledgered {
  h: Harness;
  keyring: string;
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

/** A fresh Custody whose ledger holds exactly ENTRIES entries from real activity plus filler. */
async function ledgered(kind: DatabaseKind): Promise<Ledgered> {
  const keyring = testKeyring();
  const h = await startHarness(kind, { keyring, env: { CUSTODY_LEDGER_CHECKPOINT_EVERY: String(CHECKPOINT_EVERY) } });
  open.push(h);
  await seed(h);
  const have = (await h.custody.ledger.verify()).entries;
  await h.custody.storage.db.transaction().execute((trx) =>
    h.custody.ledger.appendMany(
      trx,
      Array.from({ length: ENTRIES - have }, (_, i) => ({ actor: 'test', action: 'test.event', data: { n: i } })),
    ),
  );
  return { h, keyring };
}

/**
 * Runs `fn` as an attacker with database rights would: past the append-only triggers. SQLite:
 * drop the triggers, tamper, recreate them (DDL is transactional there). PostgreSQL: replica
 * mode skips ordinary triggers for this transaction only.
 */
async function asAttacker(h: Harness, fn: (trx: Db) => Promise<unknown>): Promise<void> {
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


function databaseUrl(h: Harness): string {
  return h.db.config.kind === 'sqlite' ? h.db.config.file : h.db.config.url;
}

describeEachDatabase('ledger', (kind) => {
  it('verifies an untouched ledger, with every signed checkpoint valid', async () => {
    const { h } = await ledgered(kind);
    const r = await h.custody.ledger.verify();
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.entries).toBe(ENTRIES);
    expect(r.lastSeq).toBe(ENTRIES);
    expect(r.checkpoints).toEqual({ total: 4, verified: 4, lastSeq: 20, unanchored: ENTRIES - 20 });
  });

  it('walks a ledger larger than a page in worker threads, off the serving thread, and still finds an edit; so does the CLI', async () => {
    const { h, keyring } = await ledgered(kind);
    await h.custody.storage.db.transaction().execute((trx) =>
      h.custody.ledger.appendMany(trx, Array.from({ length: 12_000 }, (_, i) => ({ actor: 'test', action: 'test.bulk', subjectId: `s${i}`, data: { n: i } }))),
    );
    const progress: number[] = [];
    const clean = await h.custody.ledger.verify((p) => progress.push(p.checked));
    expect(clean).toMatchObject({ ok: true, entries: ENTRIES + 12_000, lastSeq: ENTRIES + 12_000 });
    expect(clean.threads).toBeGreaterThanOrEqual(1);
    expect(progress.at(-1)).toBe(ENTRIES + 12_000);
    // Two callers at once share one verification.
    const [a, b] = await Promise.all([h.custody.ledger.verify(), h.custody.ledger.verify()]);
    expect(a).toBe(b);

    await asAttacker(h, (trx) => trx.updateTable('ledger_entries').set({ data: '{"n":"forged"}' }).where('seq', '=', 7_001).execute());
    const tampered = await h.custody.ledger.verify();
    expect(tampered.ok).toBe(false);
    expect(tampered.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: 7_001 }));
    const cli = await runCli(['ledger', 'verify', '--json', '--database-url', databaseUrl(h)], { CUSTODY_KEYRING: keyring });
    expect(cli.code).toBe(6);
    expect((JSON.parse(cli.stdout) as VerifyResult).problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: 7_001 }));
  }, 60_000);

  it('refuses UPDATE and DELETE on ledger entries and checkpoints in the database itself', async () => {
    const { h } = await ledgered(kind);
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
    const { h } = await ledgered(kind);
    await asAttacker(h, (trx) => trx.updateTable('ledger_entries').set({ data: '{"n":999}' }).where('seq', '=', 17).execute());
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'edited', seq: 17 }));
    expect(kinds(r)).toEqual(['edited']);
  });

  it('detects a middle entry that was deleted', async () => {
    const { h } = await ledgered(kind);
    await asAttacker(h, (trx) => trx.deleteFrom('ledger_entries').where('seq', '=', 12).execute());
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'deleted', seq: 12 }));
    expect(kinds(r)).toEqual(['deleted']);
  });

  it('detects a deleted entry even when the later ones were renumbered to close the gap', async () => {
    const { h } = await ledgered(kind);
    await asAttacker(h, async (trx) => {
      await trx.deleteFrom('ledger_entries').where('seq', '=', 22).execute();
      await trx.updateTable('ledger_entries').set({ seq: 22 }).where('seq', '=', 23).execute();
    });
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'deleted', seq: 22 }));
  });

  it('detects two entries whose positions were swapped as reordered', async () => {
    const { h } = await ledgered(kind);
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
    const { h } = await ledgered(kind);
    await asAttacker(h, (trx) => trx.deleteFrom('ledger_entries').where('seq', '>', 18).execute());
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.lastSeq).toBe(18);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'truncated', seq: 20 }));
    expect(kinds(r)).toEqual(['truncated']);
  });

  it('detects the newest entries cut once checkpointNow has signed the head (as serve does on a timer and at shutdown)', async () => {
    const { h } = await ledgered(kind);
    expect(await h.custody.ledger.checkpointNow()).toMatchObject({ seq: ENTRIES, keyId: h.custody.vault.ledgerSigner.keyId });
    expect(await h.custody.ledger.checkpointNow()).toBeNull();
    await asAttacker(h, (trx) => trx.deleteFrom('ledger_entries').where('seq', '>', 20).execute());
    const r = await h.custody.ledger.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'truncated', seq: ENTRIES }));
  });

  it('catches a rewritten history with recomputed hashes through the signed checkpoint', async () => {
    const { h } = await ledgered(kind);
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
    const { h } = await ledgered(kind);
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
    const { h } = await ledgered(kind);
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
    const { h } = await ledgered(kind);
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

    const tenantAdmin = await keyFor(h, 'tenant_admin', (await h.custody.tenants.list(h.admin))[0]!.id);
    const refused = await h.app.inject({ url: '/v1/ledger/verify', headers: bearer(tenantAdmin) });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('forbidden');
  });

  it('runs `custody ledger verify --json`: exit 0 when untouched, exit 6 (tampered) with the problems after tampering, no progress bar when not on a terminal', async () => {
    const { h, keyring } = await ledgered(kind);
    const args = ['ledger', 'verify', '--json', '--database-url', databaseUrl(h)];
    const ok = await runCli(args, { CUSTODY_KEYRING: keyring });
    expect(ok.stderr).not.toContain('Verifying ledger');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, entries: ENTRIES, checkpoints: { verified: 4 } });

    await asAttacker(h, (trx) => trx.deleteFrom('ledger_entries').where('seq', '=', 11).execute());
    const bad = await runCli(args, { CUSTODY_KEYRING: keyring });
    expect(bad.code).toBe(6);
    const result = JSON.parse(bad.stdout) as VerifyResult;
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual(expect.objectContaining({ kind: 'deleted', seq: 11 }));
  }, 60_000);
});
