import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration and cluster tests start real servers; a few files at once keeps 2 cores honest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
