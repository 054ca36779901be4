import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import type { TestBackend, TestLedger } from '../support/ledger-test-backend.js';
import { approvalSuite, type ApprovalContext } from './approval.suite.js';

/**
 * The approval store's conformance suite, run unchanged on each backend (real PostgreSQL,
 * real PGlite). Its tests share one migrated database, each in a time of its own (see
 * approval.suite.ts); the few that need a whole database get a fresh one.
 */
export function describeApprovalStoreConformance(backend: TestBackend): void {
  describe(`approval store conformance on ${backend.name}`, () => {
    let shared: TestLedger | undefined;
    const fresh: TestLedger[] = [];
    const context: ApprovalContext = {
      backend,
      get ledger(): TestLedger {
        if (!shared) throw new Error('no ledger: used outside a test');
        return shared;
      },
      async fresh() {
        const ledger = await backend.open();
        fresh.push(ledger);
        return ledger;
      },
    };
    beforeAll(async () => {
      await backend.setup();
      shared = await backend.open();
    });
    afterEach(async () => {
      for (const ledger of fresh.splice(0)) await ledger.dispose();
    });
    afterAll(async () => {
      await shared?.dispose();
      await backend.teardown();
    });

    approvalSuite(context);
  });
}
