import fs from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import {
  cleanup, databaseUrl, drainCleanup, expectReadable, failingAfter, freshDatabase, harness, key, ledgerActions, runCli, seedWithSecrets, tempKeyFile, versions,
} from '../../test/support/rotation.ts';
import { createKeyRotationService } from './key-rotation.service.ts';
import { readKeyFile } from './local-keyring.ts';

afterEach(drainCleanup);

describeEachDatabase('key rotation', (kind) => {
  it('re-wraps every data key (tokens, provider secret, system keys) under the new version, and every record stays readable', async () => {
    const db = await freshDatabase(kind);
    const v1 = `1:${key()}`;
    const before = await harness(kind, { inline: v1 }, db);
    const { s, secrets } = await seedWithSecrets(before);
    const total = secrets.size + 1 + 2; // tokens, the provider, fingerprint + ledger signing keys
    expect(await versions(before)).toEqual({ 1: total });
    await before.close();
    cleanup.pop();

    const h = await harness(kind, { inline: `${v1},2:${key()}` }, db);
    const progress: number[] = [];
    const result = await h.custody.keyRotation.rotate((p) => progress.push(p.done));
    expect(result).toMatchObject({ targetVersion: 2, rewrapped: total, completed: true, resumed: false, failed: [] });
    expect(progress.at(-1)).toBe(total);
    expect(await versions(h)).toEqual({ 2: total });
    expect(await h.custody.keyring.versions()).toEqual([1, 2]);
    await expectReadable(h, s, secrets);
    expect(await ledgerActions(h, 'keyring.')).toEqual(['keyring.rotation_started', 'keyring.rotation_completed']);
    const rotation = await h.custody.storage.db.selectFrom('key_rotations').selectAll().executeTakeFirstOrThrow();
    expect(rotation).toMatchObject({ target_version: 2, rewrapped: total });
    expect(rotation.completed_at).not.toBeNull();
  });

  it('resumes a rotation interrupted by KMS failures part-way and completes it when run again', async () => {
    const db = await freshDatabase(kind);
    const v1 = `1:${key()}`;
    const before = await harness(kind, { inline: v1 }, db);
    const { s, secrets } = await seedWithSecrets(before);
    await before.close();
    cleanup.pop();

    const h = await harness(kind, { inline: `${v1},2:${key()}` }, db);
    const { storage, ledger, clock, keyring } = h.custody;
    const broken = createKeyRotationService({ storage, kms: failingAfter(keyring, 4), ledger, clock, actor: 'system:test' });
    const first = await broken.rotate();
    expect(first.completed).toBe(false);
    expect(first.rewrapped).toBe(4);
    expect(first.failed.length).toBeGreaterThan(0);
    expect(first.failed[0]!.error).toContain('KMS unavailable');
    const mixed = await versions(h);
    expect(mixed[2]).toBe(4);
    expect(mixed[1]).toBeGreaterThan(0);
    // Half-rotated is a normal state: both versions are in the keyring, so every record reads.
    await expectReadable(h, s, secrets);
    expect(await h.custody.keyRotation.pendingRotation()).toMatchObject({ target_version: 2, rewrapped: 4 });

    const second = await h.custody.keyRotation.rotate();
    expect(second).toMatchObject({ targetVersion: 2, completed: true, resumed: true, failed: [] });
    expect(second.rewrapped).toBe(secrets.size + 3 - 4);
    expect(Object.keys(await versions(h))).toEqual(['2']);
    expect(await h.custody.keyRotation.pendingRotation()).toBeUndefined();
    await expectReadable(h, s, secrets);
    // One rotation, started once and completed once, though it took two runs.
    expect(await ledgerActions(h, 'keyring.')).toEqual(['keyring.rotation_started', 'keyring.rotation_completed']);
  });

  it('`custody keys rotate --json` on a file keyring adds a version to the 0600 key file, re-wraps everything and reports the result (no progress bar off a terminal)', async () => {
    const file = tempKeyFile();
    const h = await harness(kind, { file });
    const { s, secrets } = await seedWithSecrets(h);
    const total = secrets.size + 3;

    const run = runCli(['keys', 'rotate', '--json', '--database-url', databaseUrl(h.db)], { CUSTODY_KEYRING: undefined, CUSTODY_KEYRING_FILE: file });
    const out = await run.done;
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain(`Added key version 2 to ${file}`);
    // No progress bar when stderr is not a terminal (a pipe here): only the result.
    expect(out.stderr).not.toContain('Re-wrapping data keys');
    expect(JSON.parse(out.stdout)).toMatchObject({ targetVersion: 2, rewrapped: total, completed: true });

    expect(readKeyFile(file).keys.map((k) => k.version)).toEqual([1, 2]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(await versions(h)).toEqual({ 2: total });
    // The running instance picks the new version up from the file without a restart.
    await expectReadable(h, s, secrets);
    expect(await ledgerActions(h, 'keyring.')).toEqual(['keyring.version_added', 'keyring.rotation_started', 'keyring.rotation_completed']);
  }, 60_000);

  it('refuses `custody keys rotate` on an inline keyring with a message saying how to add a version, and changes nothing', async () => {
    const inline = `1:${key()}`;
    const h = await harness(kind, { inline });
    await seedWithSecrets(h);
    const before = await versions(h);
    const out = await runCli(['keys', 'rotate', '--json', '--database-url', databaseUrl(h.db)], { CUSTODY_KEYRING: inline, CUSTODY_KEYRING_FILE: undefined }).done;
    expect(out.code).toBe(2); // a usage error: this keyring cannot be changed by the command
    expect(out.stdout).toBe('');
    expect(out.stderr).toContain('CUSTODY_KEYRING');
    expect(out.stderr).toContain('--no-new-version');
    expect(await versions(h)).toEqual(before);
    expect(await h.custody.storage.db.selectFrom('key_rotations').selectAll().execute()).toEqual([]);
  }, 60_000);

});
