import { describeApprovalDeliveryStoreConformance } from './conformance/approval-delivery-conformance.js';
import { postgresBackend } from './support/ledger-test-backend.js';

// The approval delivery store's conformance suite on the machine's real PostgreSQL.
describeApprovalDeliveryStoreConformance(postgresBackend());
