import { describeApprovalStoreConformance } from './conformance/approval-conformance.js';
import { pgliteBackend } from './support/ledger-test-backend.js';

// The approval store's conformance suite on real PGlite, in memory.
describeApprovalStoreConformance(pgliteBackend());
