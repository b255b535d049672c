import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test/support/cli.ts';
import { keyFor, seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';

/**
 * `custody webhooks add|list|deliveries|remove` and `custody events` against a real server. The CLI
 * speaks only HTTP (the same contracts the server mounts), so one database suffices here; the
 * routes themselves run on both in webhook.test.ts and events.test.ts.
 */
describe('the webhooks and events CLI', () => {
  const kind = 'sqlite' as const;
  let h: Harness;
  let s: Seeded;
  let env: Record<string, string>;

  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    env = { CUSTODY_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, CUSTODY_API_KEY: await keyFor(h, 'admin') };
  });
  afterAll(async () => {
    await h?.close();
  });

  it('adds, lists, reads the log of and removes a subscription, and prints events as JSON lines', async () => {
    const add = await runCli(['webhooks', 'add', 'https://hooks.example.com/custody', '--event', 'token.*', '--event', 'alert.*', '--tenant', s.tenantA], env);
    expect(add.code, add.stderr).toBe(0);
    const secret = /whsec_[A-Za-z0-9+/=]+/.exec(add.stdout)?.[0];
    expect(secret).toBeDefined();
    const id = /whk_[0-9A-Z]{26}/.exec(add.stdout)![0];

    const list = await runCli(['webhooks', 'list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).items).toEqual([expect.objectContaining({ id, tenantId: s.tenantA, events: ['token.*', 'alert.*'] })]);
    expect(list.stdout).not.toContain(secret!.slice(6));
    expect((await runCli(['webhooks', 'deliveries', id], env)).stdout).toContain('No deliveries yet.');

    const events = await runCli(['events', '--limit', '1000'], env);
    expect(events.code, events.stderr).toBe(0);
    const lines = events.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { class_uid: number; metadata: { sequence: number } });
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.map((l) => l.metadata.sequence)).toEqual([...lines.map((l) => l.metadata.sequence)].sort((a, b) => a - b));
    expect(events.stderr).toContain(`# next cursor: ${lines[lines.length - 1]!.metadata.sequence}`);

    const removed = await runCli(['webhooks', 'remove', id], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse((await runCli(['webhooks', 'list', '--json'], env)).stdout).items).toEqual([]);
  });
});
