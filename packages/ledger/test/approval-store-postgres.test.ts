import { describeApprovalStoreConformance } from './conformance/approval-conformance.js';
import { postgresBackend } from './support/ledger-test-backend.js';

// The approval store's conformance suite on the machine's real PostgreSQL.
describeApprovalStoreConformance(postgresBackend());
