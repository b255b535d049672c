import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Storage } from '../storage/database.ts';
import type { Kms } from './kms.ts';
import { dataKeyAad } from './vault.service.ts';

export interface RotationProgress {
  done: number;
  total: number;
  targetVersion: number;
}

export interface RotationResult {
  targetVersion: number;
  rewrapped: number;
  resumed: boolean;
  failed: { ownerId: string; error: string }[];
  completed: boolean;
}

const BATCH = 500;
const MAX_PASSES = 5;

/**
 * Re-wraps every data key under the KMS's current key-encryption key, online: each batch is its
 * own transaction, guarded by the version it read, so servers keep reading and writing meanwhile.
 * Progress is kept in key_rotations; a rotation that crashed is resumed by running it again. Old
 * key versions stay in the keyring: the rotation only reports when they are no longer needed.
 */
export function createKeyRotationService(deps: { storage: Storage; kms: Kms; ledger: LedgerService; clock: Clock; actor: string }) {
  const { storage, kms, ledger, clock } = deps;
  const db = storage.db;

  const remaining = async (target: number) =>
    Number((await db.selectFrom('data_keys').select((eb) => eb.fn.countAll<number>().as('n')).where('kek_version', '<>', target).executeTakeFirstOrThrow()).n);

  return {
    remaining,
    async pendingRotation() {
      return db.selectFrom('key_rotations').selectAll().where('completed_at', 'is', null).orderBy('id', 'desc').executeTakeFirst();
    },

    async rotate(onProgress?: (p: RotationProgress) => void): Promise<RotationResult> {
      const targetVersion = await kms.currentVersion();
      const pending = await db.selectFrom('key_rotations').selectAll().where('completed_at', 'is', null).orderBy('id', 'desc').executeTakeFirst();
      let rotationId: number;
      if (pending) {
        rotationId = pending.id;
        if (pending.target_version !== targetVersion) await db.updateTable('key_rotations').set({ target_version: targetVersion }).where('id', '=', rotationId).execute();
      } else {
        rotationId = await db.transaction().execute(async (trx) => {
          const row = await trx
            .insertInto('key_rotations')
            .values({ target_version: targetVersion, started_at: clock.now().toISOString(), completed_at: null, rewrapped: 0 })
            .returning('id')
            .executeTakeFirstOrThrow();
          await ledger.append(trx, { actor: deps.actor, action: 'keyring.rotation_started', data: { targetVersion, kms: kms.name } });
          return row.id;
        });
      }

      const total = await remaining(targetVersion);
      let done = 0;
      const failed = new Map<string, string>();
      onProgress?.({ done, total, targetVersion });
      for (let pass = 0; pass < MAX_PASSES; pass++) {
        let after = '';
        let movedThisPass = 0;
        for (;;) {
          const batch = await db
            .selectFrom('data_keys')
            .select(['owner_id', 'tenant_id', 'kek_version', 'wrapped'])
            .where('kek_version', '<>', targetVersion)
            .where('owner_id', '>', after)
            .orderBy('owner_id')
            .limit(BATCH)
            .execute();
          if (batch.length === 0) break;
          after = batch[batch.length - 1]!.owner_id;
          const rewrapped: { ownerId: string; from: number; version: number; wrapped: string }[] = [];
          for (const row of batch) {
            try {
              const aad = dataKeyAad(row.tenant_id, row.owner_id);
              const key = await kms.unwrap(row.wrapped, row.kek_version, aad);
              const next = await kms.wrap(key, aad);
              key.fill(0);
              rewrapped.push({ ownerId: row.owner_id, from: row.kek_version, ...next });
            } catch (err) {
              failed.set(row.owner_id, (err as Error).message);
            }
          }
          const at = clock.now().toISOString();
          const n = await db.transaction().execute(async (trx) => {
            let count = 0;
            for (const r of rewrapped) {
              const res = await trx
                .updateTable('data_keys')
                .set({ kek_version: r.version, wrapped: r.wrapped, rewrapped_at: at })
                .where('owner_id', '=', r.ownerId)
                .where('kek_version', '=', r.from)
                .executeTakeFirst();
              count += Number(res.numUpdatedRows);
            }
            await trx.updateTable('key_rotations').set((eb) => ({ rewrapped: eb('rewrapped', '+', count) })).where('id', '=', rotationId).execute();
            return count;
          });
          done += n;
          movedThisPass += n;
          onProgress?.({ done, total: Math.max(total, done), targetVersion });
        }
        const left = await remaining(targetVersion);
        if (left <= failed.size || movedThisPass === 0) break;
      }

      const left = await remaining(targetVersion);
      const completed = left === 0;
      if (completed) {
        await db.transaction().execute(async (trx) => {
          await trx.updateTable('key_rotations').set({ completed_at: clock.now().toISOString() }).where('id', '=', rotationId).execute();
          await ledger.append(trx, { actor: deps.actor, action: 'keyring.rotation_completed', data: { targetVersion, rewrapped: done } });
        });
      }
      return {
        targetVersion,
        rewrapped: done,
        resumed: pending !== undefined,
        failed: [...failed].map(([ownerId, error]) => ({ ownerId, error })),
        completed,
      };
    },
  };
}
