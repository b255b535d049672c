import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from './support/databases.ts';
import { testKeyring } from './support/harness.ts';
import { runCli } from './support/cli.ts';

/**
 * DESIGN §7: no acknowledged write is lost when the server is killed with SIGKILL. A real server
 * process on a real database, killed right after it acknowledged revocations (and while others were
 * still in flight), then restarted on the same data.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Server {
  child: ChildProcess;
  url: string;
  exited: Promise<NodeJS.Signals | number | null>;
}

function cliEnv(keyring: string): NodeJS.ProcessEnv {
  return { ...process.env, CUSTODY_ENV: 'test', CUSTODY_KEYRING: keyring, CUSTODY_LOG_LEVEL: 'warn' };
}

function databaseUrl(db: TestDatabase): string {
  return db.config.kind === 'sqlite' ? db.config.file : db.config.url;
}


/** Starts `custody serve --port 0` and resolves with the URL it prints once it listens. */
function startServer(db: TestDatabase, keyring: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/custody.js', 'serve', '--port', '0', '--database-url', databaseUrl(db)], { cwd: ROOT, env: cliEnv(keyring) });
    const exited = new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, signal) => r(signal ?? code)));
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time:\n${out}\n${err}`));
    }, 30_000);
    child.stdout!.on('data', (d) => (out += d));
    // What serve says to a person (where it runs, the first key) is on stderr; log lines are on stdout.
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /Custody is running at (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, exited });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}\n${err}`));
    });
  });
}

async function kill9(server: Server): Promise<void> {
  server.child.kill('SIGKILL');
  expect(await server.exited).toBe('SIGKILL');
}

function api(server: Server, key: string) {
  // Response bodies are plain JSON checked field by field by the assertions below.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return async (method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() };
  };
}

describeEachDatabase('durability across SIGKILL', (kind) => {
  let db: TestDatabase;
  let keyring: string;
  let adminKey: string;
  let server: Server | undefined;
  let tenantId: string;
  let providerId: string;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    keyring = testKeyring();
    // A new database is made by `migrate` (or `serve`); `apikey create` then works on it directly.
    const migrated = await runCli(['migrate', '--database-url', databaseUrl(db)], cliEnv(keyring));
    expect(migrated.code, migrated.stderr).toBe(0);
    const created = await runCli(['apikey', 'create', '--role', 'admin', '--name', 'durability', '--json', '--database-url', databaseUrl(db)], cliEnv(keyring));
    expect(created.code, created.stderr).toBe(0);
    adminKey = (JSON.parse(created.stdout) as { key: string }).key;
    server = await startServer(db, keyring);
    const call = api(server, adminKey);
    tenantId = (await call('POST', '/v1/tenants', { name: 'durable-co' })).json.id;
    providerId = (
      await call('POST', '/v1/providers', { name: 'durable-idp', tokenEndpoint: 'https://idp.example.com/token', clientId: 'custody', apiBaseUrls: ['https://api.example.com'] })
    ).json.id;
    expect(tenantId).toMatch(/^ten_/);
    expect(providerId).toMatch(/^prv_/);
  }, 60_000);

  afterAll(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) await kill9(server);
    await db?.drop();
  });

  /** The server, started again if an earlier test left it killed: each test needs one running. */
  async function runningServer(): Promise<Server> {
    if (!server || server.child.exitCode !== null || server.child.signalCode !== null) server = await startServer(db, keyring);
    return server;
  }

  async function registerTokens(call: ReturnType<typeof api>, n: number): Promise<string[]> {
    const created = await Promise.all(
      Array.from({ length: n }, (_, i) => call('POST', '/v1/tokens', { tenantId, providerId, owner: 'team-durable', scopes: ['read'], accessToken: `at-durable-${i}-${Math.random()}` })),
    );
    expect(created.map((r) => r.status)).toEqual(created.map(() => 201));
    return created.map((r) => r.json.id as string);
  }

  async function restartAndCheck(acknowledged: string[], unacknowledged: string[] = []) {
    server = await startServer(db, keyring);
    const call = api(server, adminKey);
    const states = await Promise.all(acknowledged.map(async (id) => ({ id, state: (await call('GET', `/v1/tokens/${id}`)).json.state as string })));
    expect(states).toEqual(acknowledged.map((id) => ({ id, state: 'revoked' })));
    // A request cut off by the kill may or may not have committed, but never half: a revoked state
    // always comes with its ledger entry, and an active token has none.
    await Promise.all(
      unacknowledged.map(async (id) => {
        const state = (await call('GET', `/v1/tokens/${id}`)).json.state as string;
        const entries = (await call('GET', `/v1/ledger?tokenId=${id}&action=token.revoked`)).json.items as unknown[];
        expect(['active', 'revoked']).toContain(state);
        expect({ id, entries: entries.length }).toEqual({ id, entries: state === 'revoked' ? 1 : 0 });
      }),
    );
    const verify = await call('GET', '/v1/ledger/verify');
    expect(verify.status).toBe(200);
    expect(verify.json.problems).toEqual([]);
    expect(verify.json.ok).toBe(true);
  }

  it('keeps every revocation acknowledged one by one before SIGKILL, and the ledger verifies after restart', async () => {
    const call = api(await runningServer(), adminKey);
    const ids = await registerTokens(call, 15);
    const acknowledged: string[] = [];
    for (const id of ids) {
      const r = await call('POST', `/v1/tokens/${id}/revoke`, { reason: 'durability check' });
      expect(r.status).toBe(200);
      expect(r.json.state).toBe('revoked');
      acknowledged.push(id);
    }
    // No grace period: the kill lands right after the last acknowledgement.
    await kill9(server!);
    await restartAndCheck(acknowledged);
  }, 60_000);

  it('keeps every acknowledged revocation when SIGKILL lands while other revocations are in flight', async () => {
    const call = api(await runningServer(), adminKey);
    const ids = await registerTokens(call, 40);
    const acknowledged: string[] = [];
    let killed: Promise<void> | undefined;
    await Promise.allSettled(
      ids.map(async (id) => {
        try {
          const r = await call('POST', `/v1/tokens/${id}/revoke`, { reason: 'in flight' });
          if (r.status === 200 && r.json.state === 'revoked') acknowledged.push(id);
        } finally {
          // Kill as soon as a handful are acknowledged: the rest are queued, executing or half-sent.
          if (acknowledged.length >= 5 && !killed) killed = kill9(server!);
        }
      }),
    );
    await killed;
    expect(killed).toBeDefined();
    expect(acknowledged.length).toBeGreaterThanOrEqual(5);
    await restartAndCheck(acknowledged, ids.filter((id) => !acknowledged.includes(id)));
    await kill9(server!);
    // The same database, verified offline by the CLI as an auditor would.
    const cli = await runCli(['ledger', 'verify', '--json', '--database-url', databaseUrl(db)], cliEnv(keyring));
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: true, problems: [] });
  }, 60_000);
});
