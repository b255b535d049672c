import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The directions of the house (CONVENTIONS.md "Dependencies point one way"), enforced on every
 * non-test source file. A capability is a folder that owns records; infrastructure folders import
 * none of them; domain rules import neither HTTP nor SQL; nothing but the entry points (the CLI)
 * imports the composition root in app/; no folder reaches into another's repository.
 * test/lint-rules.test.ts shows each rule failing on a forbidden import.
 */
const CAPABILITIES = ['alerts', 'apikeys', 'detection', 'gateway', 'governance', 'leaks', 'ledger', 'oauth', 'outbox', 'providers', 'signals', 'streams', 'tenants', 'tokens', 'vault', 'webhooks', 'events', 'reviews', 'trends', 'reports', 'imports', 'sessions'];
const CAP = `(${CAPABILITIES.join('|')})`;

const forbid = {
  capability: { regex: `^(\\.\\./)+${CAP}/`, message: 'Infrastructure imports no capability: take what you need as an argument (an interface declared here).' },
  capabilityTypes: { regex: `^(\\.\\./)+${CAP}/`, allowTypeImports: true, message: 'The storage layer may name capabilities’ value types, never import their code.' },
  app: { regex: '^(\\.\\./)+app/', message: 'Only the entry points (src/cli) import the composition root in app/.' },
  cli: { regex: '^(\\.\\./)+cli/', message: 'Nothing imports the CLI.' },
  http: { regex: '^(\\.\\./)+http/', message: 'Domain rules and services do not import HTTP; routes (*.routes.ts) adapt them to it.' },
  storage: { regex: '^(\\.\\./)+storage/', message: 'Domain rules are plain functions over plain data: no SQL.' },
  foreignRepo: { regex: '^\\.\\./.*\\.repo\\.ts$', message: 'A repository is its own folder’s: call the owning capability’s named operations instead.' },
  testSupport: { regex: '^(\\.\\./)+test/', message: 'Source does not import test support.' },
  httpLibs: { regex: '^(fastify|@fastify/.+)$', message: 'Only routes and src/http talk Fastify.' },
  sqlLibs: { regex: '^(kysely|pg|better-sqlite3)$', message: 'Domain rules and contracts do not talk SQL.' },
};

const restrict = (files, rules, ignores = []) => ({
  files,
  ignores: ['**/*.test.ts', ...ignores],
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: rules }] },
});

const capabilityFiles = CAPABILITIES.map((c) => `src/${c}/**/*.ts`);
const domainRuleFiles = [
  'src/**/*.lifecycle.ts',
  'src/**/*.practical-test.ts',
  'src/**/*.policy.ts',
  'src/**/*.rules.ts',
  'src/**/*.contract.ts',
  'src/**/*.schemas.ts',
  'src/gateway/scope-rules.ts',
  'src/gateway/target-path.ts',
  'src/gateway/address-policy.ts',
  'src/gateway/forward-headers.ts',
  'src/ledger/ledger.chain.ts',
];
const httpAdapterFiles = ['src/**/*.routes.ts', 'src/gateway/gateway.http.ts'];

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'dist/', 'coverage/', 'web/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error', 'warn'] }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The CLI and benchmarks talk to people on stdout.
    files: ['src/cli/**', 'bench/**', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
  // Later entries replace earlier ones for the files they match, so each lists all of its rules.
  restrict(['src/http/**/*.ts'], [forbid.capability, forbid.app, forbid.cli, forbid.foreignRepo, forbid.testSupport]),
  restrict(['src/shared/**/*.ts', 'src/contract/**/*.ts', 'src/auth/**/*.ts', 'src/config/**/*.ts'], [
    forbid.capability,
    forbid.app,
    forbid.cli,
    forbid.http,
    forbid.storage,
    forbid.testSupport,
    forbid.httpLibs,
    forbid.sqlLibs,
  ]),
  restrict(['src/storage/**/*.ts'], [forbid.capabilityTypes, forbid.app, forbid.cli, forbid.http, forbid.testSupport, forbid.httpLibs]),
  // Capabilities: services, repositories, operations.
  restrict(capabilityFiles, [forbid.app, forbid.cli, forbid.http, forbid.foreignRepo, forbid.testSupport, forbid.httpLibs]),
  // Their HTTP adapters may use src/http and Fastify.
  restrict(httpAdapterFiles, [forbid.app, forbid.cli, forbid.foreignRepo, forbid.testSupport]),
  // Their domain rules and contracts: plain data, no HTTP, no SQL.
  restrict(domainRuleFiles, [forbid.app, forbid.cli, forbid.http, forbid.storage, forbid.foreignRepo, forbid.testSupport, forbid.httpLibs, forbid.sqlLibs]),
  restrict(['src/app/**/*.ts'], [forbid.cli, forbid.testSupport]),
  restrict(['src/cli/**/*.ts'], [forbid.testSupport, forbid.foreignRepo]),
);
