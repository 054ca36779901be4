export { LedgerError, isLedgerError, type LedgerErrorCode } from './ledger-error.js';
export {
  DECISION_EFFECTS,
  LEDGER_EVENT_COLUMNS,
  LEDGER_EVENT_TABLE,
  LEDGER_EVENT_TYPES,
  OUTCOME_STATUSES,
  type AppendedEvent,
  type ApprovalRequestedEventInput,
  type ApprovalResolvedEventInput,
  type DecisionEffect,
  type DecisionEventInput,
  type JsonObject,
  type JsonValue,
  type LedgerCallIdentity,
  type LedgerEventBase,
  type LedgerEventColumn,
  type LedgerEventColumnName,
  type LedgerEventInput,
  type LedgerEventRow,
  type LedgerEventType,
  type OutcomeEventInput,
  type OutcomeStatus,
  type PolicyEventInput,
} from './event/ledger-event.js';
export { GENESIS_HASH, canonicalEvent, eventHash, type HashedEventFields } from './event/event-hash.js';
export { ArgumentRedactor, REDACTED, parsePointer, type RedactionRule } from './event/argument-redactor.js';
export { connectLedger } from './database/connect-ledger.js';
export {
  DEFAULT_EMBEDDED_DIR,
  type LedgerBackend,
  type LedgerConnection,
  type LedgerConnectionOptions,
  type OpenTransaction,
  type StatementResult,
} from './database/ledger-connection.js';
export { redactDatabaseUrl } from './database/postgres-connection.js';
export { writeFileAtomically, type AtomicFileContent, type AtomicWriteOptions } from './file/atomic-file-writer.js';
export type { StoreListenHandlers, StoreSessionOptions, StoreSessions, StoreStatements } from './database/store-sessions.js';
export type {
  LedgerCheckpointsTable,
  LedgerDatabase,
  LedgerEventsTable,
  LedgerMigrationChecksumTable,
  LedgerStrandsTable,
  LedgerVerificationsTable,
} from './database/ledger-schema.js';
export { MIGRATION_TABLE, migrateLedger, type MigrateLedgerOptions, type MigrationReport } from './migration/ledger-migrator.js';
export {
  SqlFileMigrationProvider,
  defaultMigrationsDir,
  readMigrationFiles,
  type MigrationFile,
} from './migration/sql-file-migration-provider.js';
export type { AppendOptions, CountedEvent, DecisionSink, LedgerHealth, LedgerSink } from './writer/ledger-sink.js';
export {
  LedgerWriter,
  type LedgerBatchInfo,
  type LedgerWriterObserver,
  type LedgerWriterOptions,
} from './writer/ledger-writer.js';
export { openLedgerSink, type OpenLedgerSinkOptions, type OpenedLedgerSink } from './open-ledger-sink.js';
export { openLedgerServices, type LedgerServices, type OpenLedgerServicesOptions } from './open-ledger-services.js';
export {
  CHECKPOINT_FORMAT,
  checkSignature,
  keyIdOf,
  parseCheckpoint,
  readCheckpointFile,
  readSigningKey,
  readTrustedKey,
  signCheckpoint,
  writeCheckpointFile,
  type CheckpointBody,
  type SignedCheckpoint,
  type SigningKey,
  type StrandHead,
} from './checkpoint/checkpoint-signer.js';
export {
  createCheckpoint,
  readStoredCheckpoints,
  readStrandHeads,
  type CheckpointResult,
  type CreateCheckpointOptions,
} from './checkpoint/checkpoint-store.js';
export { DEFAULT_CHECKPOINT_GRACE_MS, verifyLedger, type VerifyLedgerOptions, type VerifyReport } from './verify/ledger-verifier.js';
export type { VerifyProblem, VerifyProblemCause, VerifyProblemKind } from './verify/verify-problem.js';
export type { StrandSummary } from './verify/chain-pass.js';
export type { CheckpointSummary } from './verify/checkpoint-pass.js';
export type { CompletenessFindings, MissingOutcome } from './verify/completeness-pass.js';
export { DEFAULT_APPROVAL_GRACE_MS, type ApprovalSummary } from './verify/approval-pass.js';
export { checkFilter, parseLedgerTime, type LedgerFilter } from './query/ledger-filter.js';
export { queryLedger, type LedgerQueryOptions, type LedgerQueryResult } from './query/ledger-query.js';
export { exportLedger, type ExportFormat, type ExportLedgerOptions, type ExportResult } from './query/ledger-exporter.js';
export { csvCell, csvHeader, eventToCsvLine } from './query/event-csv.js';
export type {
  ApprovalBinding,
  ApprovalDecideResult,
  ApprovalJson,
  ApprovalListFilter,
  ApprovalRecord,
  ApprovalRecorder,
  ApprovalRequestInput,
  ApprovalStatus,
  ApprovalStore,
  ApprovalVote,
} from './approval/approval-store.js';
export { APPROVAL_CHANNEL, PostgresApprovalStore, openApprovalStore, type ApprovalStoreOptions } from './approval/postgres-approval-store.js';
export {
  APPROVAL_DELIVERY_EVENTS,
  type ApprovalDeliveryAttempt,
  type ApprovalDeliveryEvent,
  type ApprovalDeliveryFormat,
  type ApprovalDeliveryInput,
  type ApprovalDeliveryNext,
  type ApprovalDeliveryRecord,
  type ApprovalDeliveryStatus,
  type ApprovalDeliveryStore,
  type ClaimedDelivery,
} from './approval/approval-delivery-store.js';
export {
  PostgresApprovalDeliveryStore,
  openApprovalDeliveryStore,
  type ApprovalDeliveryStoreOptions,
} from './approval/postgres-approval-delivery-store.js';
export {
  PostgresLimitStore,
  openLimitStore,
  type LimitStoreLogger,
  type OpenLimitStoreOptions,
  type PostgresLimitStoreOptions,
} from './limits/postgres-limit-store.js';
