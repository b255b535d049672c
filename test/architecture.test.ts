import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/**
 * The shape of the house (CONVENTIONS.md), checked on the source itself: each table has one owner,
 * folders do not import each other in a circle, and the lint rules that keep the directions fail
 * on a forbidden import.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) out.push(p);
    }
  };
  walk(SRC);
  return out;
}

const folderOf = (file: string) => path.relative(SRC, file).split(path.sep)[0]!;

/** Which folder owns (alone reads and writes) each table. */
const OWNERS: Record<string, string> = {
  tenants: 'tenants',
  providers: 'providers',
  tokens: 'tokens',
  token_scope_usage: 'tokens',
  api_keys: 'apikeys',
  console_sessions: 'sessions',
  data_keys: 'vault',
  key_rotations: 'vault',
  ledger_entries: 'ledger',
  ledger_checkpoints: 'ledger',
  gateway_usage_events: 'gateway',
  gateway_call_shapes: 'gateway',
  gateway_daily_use: 'gateway',
  oauth_flows: 'oauth',
  connect_links: 'oauth',
  outbox_jobs: 'outbox',
  alerts: 'alerts',
  token_workload_usage: 'tokens',
  policies: 'governance',
  owners: 'governance',
  workloads: 'governance',
  findings: 'governance',
  finding_exceptions: 'governance',
  governance_sweeps: 'governance',
  notices: 'governance',
  webhook_subscriptions: 'webhooks',
  webhook_deliveries: 'webhooks',
  ledger_cursors: 'events',
  ssf_streams: 'streams',
  ssf_transmitters: 'signals',
  ssf_received_jtis: 'signals',
  inactive_approvers: 'signals',
  detection_baselines: 'detection',
  detection_known_values: 'detection',
  leak_reporters: 'leaks',
  leak_report_replays: 'leaks',
  token_retired_credentials: 'tokens',
  trend_snapshots: 'trends',
  review_campaigns: 'reviews',
  review_items: 'reviews',
};

describe('the shape of the source', () => {
  it('touches each table only from the capability that owns it (migrations aside)', () => {
    const trespass: string[] = [];
    const unknown: string[] = [];
    for (const file of sourceFiles()) {
      const rel = path.relative(ROOT, file);
      if (rel.startsWith(path.join('src', 'storage', 'migrations'))) continue;
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\.(selectFrom|updateTable|insertInto|deleteFrom)\(\s*'([a-z_]+)/g)) {
        const table = m[2]!;
        const owner = OWNERS[table];
        if (!owner) unknown.push(`${rel}: ${table}`);
        else if (folderOf(file) !== owner) trespass.push(`${rel} ${m[1]} ${table} (owned by ${owner})`);
      }
    }
    expect(unknown).toEqual([]);
    expect(trespass).toEqual([]);
  });

  it('has no import cycle between folders (type-only imports aside)', () => {
    const graph = new Map<string, Set<string>>();
    for (const file of sourceFiles()) {
      const from = folderOf(file);
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/^import (?!type )[^;]*?from '(\.[^']+)'/gms)) {
        const target = path.resolve(path.dirname(file), m[1]!);
        if (!target.startsWith(SRC + path.sep)) continue;
        const to = folderOf(target);
        if (to !== from) (graph.get(from) ?? graph.set(from, new Set()).get(from)!).add(to);
      }
    }
    const cycles: string[] = [];
    const visit = (node: string, trail: string[]) => {
      for (const next of graph.get(node) ?? []) {
        if (next === trail[0]) cycles.push([...trail, next].join(' → '));
        else if (!trail.includes(next)) visit(next, [...trail, next]);
      }
    };
    for (const start of graph.keys()) visit(start, [start]);
    expect(cycles).toEqual([]);
  });

  describe('the import rules (eslint no-restricted-imports) refuse', () => {
    const eslint = new ESLint({ cwd: ROOT });
    const lint = async (filePath: string, code: string) => {
      const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, filePath) });
      return result!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
    };
    const cases: [string, string, string, RegExp][] = [
      ['infrastructure importing a capability', 'src/http/some-helper.ts', "import { createTokenService } from '../tokens/token.service.ts';\nexport const x = createTokenService;\n", /Infrastructure imports no capability/],
      ['a domain rule importing SQL', 'src/tokens/token.lifecycle.ts', "import { sql } from 'kysely';\nexport const x = sql;\n", /do not talk SQL/],
      ['a domain rule importing HTTP', 'src/gateway/gateway.policy.ts', "import { errorBody } from '../http/error-handler.ts';\nexport const x = errorBody;\n", /do not import HTTP/],
      ['a service importing Fastify', 'src/tokens/token.service.ts', "import Fastify from 'fastify';\nexport const x = Fastify;\n", /Only routes and src\/http talk Fastify/],
      ['a capability importing the composition root', 'src/tokens/token.service.ts', "import { buildServer } from '../app/server.ts';\nexport const x = buildServer;\n", /Only the entry points/],
      ['a capability reading another capability’s repository', 'src/oauth/consent.service.ts', "import { createTokenRepo } from '../tokens/token.repo.ts';\nexport const x = createTokenRepo;\n", /call the owning capability/],
      ['the storage layer importing a capability’s code', 'src/storage/schema.ts', "import { TOKEN_STATES } from '../tokens/token.lifecycle.ts';\nexport const x = TOKEN_STATES;\n", /never import their code/],
      ['source importing test support', 'src/gateway/gateway.service.ts', "import { startHarness } from '../../test/support/harness.ts';\nexport const x = startHarness;\n", /test support/],
    ];
    for (const [what, file, code, message] of cases) {
      it(what, async () => {
        expect(await lint(file, code)).toEqual([expect.stringMatching(message)]);
      });
    }

    it('but lets the storage layer name a capability’s value types', async () => {
      expect(await lint('src/storage/schema.ts', "import type { TokenState } from '../tokens/token.lifecycle.ts';\nexport type X = TokenState;\n")).toEqual([]);
    });
  });
});
