import { describeApprovalDeliveryStoreConformance } from './conformance/approval-delivery-conformance.js';
import { pgliteBackend } from './support/ledger-test-backend.js';

// The approval delivery store's conformance suite on real PGlite, in memory.
describeApprovalDeliveryStoreConformance(pgliteBackend());
