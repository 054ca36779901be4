import { describeLedgerConformance } from './conformance/ledger-conformance.js';
import { postgresBackend } from './support/ledger-test-backend.js';

// The conformance suite on the machine's real PostgreSQL, one fresh database per test.
describeLedgerConformance(postgresBackend());
