import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'server/**/*.test.ts',
      'client/**/*.test.ts',
      'mock-ehr/**/*.test.ts',
      'models/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 30_000,
    // Set-up hooks start real servers and seed synthetic studies (generated and transcoded): on a loaded 2-core CI
    // machine that has taken over a minute.
    hookTimeout: 180_000,
    // Two cores on CI: files run in parallel workers, tests inside a file in order.
    maxWorkers: 2,
  },
});
