import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import {
  cleanup, databaseUrl, drainCleanup, expectReadable, freshDatabase, harness, key, ledgerActions, runCli, seedWithSecrets, tempKeyFile, versions,
} from '../../test/support/rotation.ts';
import { eventually } from '../../test/support/wait.ts';
import { readKeyFile } from './local-keyring.ts';
import { dataKeyAad, GLOBAL_SCOPE } from './vault.service.ts';

afterEach(drainCleanup);

describeEachDatabase('key rotation through the CLI', (kind) => {
  it('re-wraps under a version already added to an inline keyring with `keys rotate --no-new-version`', async () => {
    const db = await freshDatabase(kind);
    const v1 = `1:${key()}`;
    const before = await harness(kind, { inline: v1 }, db);
    const { s, secrets } = await seedWithSecrets(before);
    const both = `${v1},2:${key()}`;
    const out = await runCli(['keys', 'rotate', '--no-new-version', '--json', '--database-url', databaseUrl(db)], { CUSTODY_KEYRING: both }).done;
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ targetVersion: 2, completed: true });
    await before.close();
    cleanup.pop();
    const h = await harness(kind, { inline: both }, db);
    expect(await versions(h)).toEqual({ 2: secrets.size + 3 });
    await expectReadable(h, s, secrets);
  }, 60_000);

  it('resumes a `keys rotate` CLI run killed part-way when run again, without adding another version', async () => {
    const file = tempKeyFile();
    const h = await harness(kind, { file });
    const { s, secrets } = await seedWithSecrets(h);
    // Enough extra data keys that the rotation takes many batches, so the kill lands mid-way.
    const { keyring } = h.custody;
    const filler = await Promise.all(
      Array.from({ length: 5000 }, async (_, i) => {
        const ownerId = `test:filler-${String(i).padStart(5, '0')}`;
        const { version, wrapped } = await keyring.wrap(randomBytes(32), dataKeyAad(GLOBAL_SCOPE, ownerId));
        return { owner_id: ownerId, tenant_id: GLOBAL_SCOPE, kek_version: version, wrapped, created_at: new Date().toISOString(), rewrapped_at: null };
      }),
    );
    for (let i = 0; i < filler.length; i += 500) await h.custody.storage.db.insertInto('data_keys').values(filler.slice(i, i + 500)).execute();
    const total = filler.length + secrets.size + 3;

    const env = { CUSTODY_KEYRING: undefined, CUSTODY_KEYRING_FILE: file };
    const args = ['keys', 'rotate', '--json', '--database-url', databaseUrl(h.db)];
    const first = runCli(args, env);
    // Kill as soon as the first batches have committed.
    await eventually(
      async () => {
        const row = await h.custody.storage.db.selectFrom('key_rotations').select(['rewrapped', 'completed_at']).executeTakeFirst();
        return (row && row.rewrapped > 0) || first.child.exitCode !== null;
      },
      { what: 'the first re-wrapped batch', timeoutMs: 50_000, intervalMs: 5 },
    );
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const interrupted = await h.custody.storage.db.selectFrom('key_rotations').selectAll().executeTakeFirstOrThrow();
    expect(interrupted.completed_at).toBeNull();
    expect(interrupted.rewrapped).toBeLessThan(total);
    expect((await versions(h))[1]).toBeGreaterThan(0);

    const second = await runCli(args, env).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('Resuming the unfinished rotation to version 2');
    expect(JSON.parse(second.stdout)).toMatchObject({ targetVersion: 2, completed: true, resumed: true });
    expect(readKeyFile(file).keys.map((k) => k.version)).toEqual([1, 2]);
    expect(await versions(h)).toEqual({ 2: total });
    await expectReadable(h, s, secrets);
    expect(await ledgerActions(h, 'keyring.')).toEqual(['keyring.version_added', 'keyring.rotation_started', 'keyring.rotation_completed']);
  }, 60_000);
});
