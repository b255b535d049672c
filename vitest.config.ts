import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // better-sqlite3 is a native addon: child processes isolate it more safely than worker threads.
    pool: 'forks',
    // Two files at a time: on the 2-core CI machine much of a file's time is waiting (databases,
    // child processes, an issuer, timers), and vitest's default here (cores - 1) runs them one by one.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
