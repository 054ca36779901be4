import { describeLedgerConformance } from './conformance/ledger-conformance.js';
import { pgliteBackend } from './support/ledger-test-backend.js';

// The conformance suite on real PGlite, one fresh in-memory database per test.
describeLedgerConformance(pgliteBackend());
