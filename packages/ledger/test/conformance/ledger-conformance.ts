import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest';
import type { TestBackend, TestLedger } from '../support/ledger-test-backend.js';
import { appendOnlySuite } from './append-only.suite.js';
import { approvalAuditViewsSuite } from './approval-audit-views.suite.js';
import { approvalVerifySuite } from './approval-verify.suite.js';
import { auditViewsSuite } from './audit-views.suite.js';
import { checkpointPeriodSuite } from './checkpoint-period.suite.js';
import { checkpointSuite } from './checkpoint.suite.js';
import { healthSuite } from './health.suite.js';
import { linkDiagnosisSuite } from './link-diagnosis.suite.js';
import { migrationSuite } from './migration.suite.js';
import { querySuite } from './query.suite.js';
import { shadowSuite } from './shadow.suite.js';
import { tamperSuite } from './tamper.suite.js';
import { writerSuite } from './writer.suite.js';

/** Gives each test of a suite its own migrated, empty ledger. */
export interface LedgerContext {
  readonly backend: TestBackend;
  /** The current test's ledger. */
  readonly ledger: TestLedger;
}

/**
 * The ledger's conformance suite: every behaviour of `@tollgate/ledger`, run unchanged on
 * each backend (real PostgreSQL, real PGlite).
 */
export function describeLedgerConformance(backend: TestBackend): void {
  describe(`ledger conformance on ${backend.name}`, () => {
    let current: TestLedger | undefined;
    const context: LedgerContext = {
      backend,
      get ledger(): TestLedger {
        if (!current) throw new Error('no ledger: used outside a test');
        return current;
      },
    };
    beforeAll(() => backend.setup());
    afterAll(() => backend.teardown());
    beforeEach(async () => {
      current = await backend.open();
    });
    afterEach(async () => {
      await current?.dispose();
      current = undefined;
    });

    describe('migrations', () => migrationSuite(context));
    describe('append-only table and roles', () => appendOnlySuite(context));
    describe('writer', () => writerSuite(context));
    describe('health for readiness', () => healthSuite(context));
    describe('verify and tampering', () => tamperSuite(context));
    describe('verify names the event at fault', () => linkDiagnosisSuite(context));
    describe('checkpoints', () => checkpointSuite(context));
    describe('checkpoints bound their periods', () => checkpointPeriodSuite(context));
    describe('verify checks approvals across strands', () => approvalVerifySuite(context));
    describe('query and export', () => querySuite(context));
    describe('audit views', () => auditViewsSuite(context));
    describe('approval audit views', () => approvalAuditViewsSuite(context));
    describe('shadow decisions', () => shadowSuite(context));
  });
}
