import { defineConfig } from 'vitest/config';

// isolated-vm needs --no-node-snapshot on Node >= 20; NODE_OPTIONS does not reach forked workers reliably.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    execArgv: ['--no-node-snapshot'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
