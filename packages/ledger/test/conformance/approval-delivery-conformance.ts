import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import type { TestBackend, TestLedger } from '../support/ledger-test-backend.js';
import { approvalDeliverySuite, type ApprovalDeliveryContext } from './approval-delivery.suite.js';

/**
 * The approval delivery store's conformance suite, run unchanged on each backend (real
 * PostgreSQL, real PGlite). Its tests share one migrated database; the few that need a whole
 * database get a fresh one.
 */
export function describeApprovalDeliveryStoreConformance(backend: TestBackend): void {
  describe(`approval delivery store conformance on ${backend.name}`, () => {
    let shared: TestLedger | undefined;
    const fresh: TestLedger[] = [];
    const context: ApprovalDeliveryContext = {
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

    approvalDeliverySuite(context);
  });
}
