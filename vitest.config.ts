import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Tests import the workspace packages from source, so `pnpm test` needs no build first.
export default defineConfig({
  resolve: {
    alias: {
      '@tollgate/policy': src('policy'),
      // The atomic file writer alone, without the ledger's module graph (the CLI's file output uses it).
      '@tollgate/ledger/atomic-file-writer': fileURLToPath(new URL('./packages/ledger/src/file/atomic-file-writer.ts', import.meta.url)),
      '@tollgate/ledger': src('ledger'),
      // The git environment alone, without the gateway's module graph (the CLI's Git features use it).
      '@tollgate/gateway/git': fileURLToPath(new URL('./packages/gateway/src/policy/git-environment.ts', import.meta.url)),
      '@tollgate/gateway': src('gateway'),
      '@tollgate/demo-exchange': src('demo-exchange'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
