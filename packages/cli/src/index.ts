export { CliError, ExitCode } from './cli-error.js';
export { TollgateCommand, commandFailure } from './base-command.js';
export type { CommandFailure } from './base-command.js';
export {
  CATALOG_FILE_NAME,
  DEFAULT_POLICY_PATH,
  POLICY_FILE_NAMES,
  TEST_FILE_PATTERN,
  discoverPolicyFiles,
  displayPath,
  foundFile,
  readPolicyFile,
  resolveTestPolicy,
} from './policy-files.js';
export type { DiscoverOptions, FoundFile, PolicyFiles, PolicyFileSet } from './policy-files.js';
export { lintExitCode, lintPolicies, lintSummary } from './lint-runner.js';
export type { LintedPolicy, LintedTestFile, LintResult, LintStage } from './lint-runner.js';
export { runTestSuite, runTestSuiteWithSources, testExitCode } from './test-suite.js';
export type { PolicyCoverage, TestFileReport, TestSuiteOptions, TestSuiteResult, TestSuiteRun, ThresholdVerdict } from './test-suite.js';
export { isWatchedName, watchTestSuite } from './test-suite-watcher.js';
export type { WatchedRun, WatchTestSuiteOptions } from './test-suite-watcher.js';
export { LINT_FORMATS, TEST_FORMATS } from './report-formats.js';
export type { LintFormat, RenderedReport, TestFormat } from './report-formats.js';
export { emitReport, writeReportFile, writeStderr, writeStdout } from './report-output.js';
export { renderLintReport } from './render/lint-report-renderer.js';
export type { LintRenderContext } from './render/lint-report-renderer.js';
export { renderTestReport } from './render/test-report-renderer.js';
export type { TestRenderContext } from './render/test-report-renderer.js';
export { renderLintPretty } from './render/lint-pretty-renderer.js';
export { escapeWorkflowData, escapeWorkflowProperty, renderLintGithub, workflowCommand } from './render/github-annotation-renderer.js';
export type { GithubAnnotationOptions } from './render/github-annotation-renderer.js';
export { DOCS_BASE_URL, FINGERPRINT_KEY, SARIF_SCHEMA_URI, buildSarifLog, renderLintSarif } from './render/sarif-renderer.js';
export type { SarifOptions } from './render/sarif-renderer.js';
export { renderTestPretty } from './render/test-pretty-renderer.js';
export { escapeXmlAttribute, escapeXmlText, junitClassName, renderJunit } from './render/junit-renderer.js';
export { describeFailure, failureText } from './render/test-failure-format.js';
export type { FailureLine } from './render/test-failure-format.js';
export { renderJson } from './render/json-renderer.js';
export { findSourceRoot, rootRelativePath } from './render/source-root.js';
export { shouldColour, terminalStyle } from './render/terminal-style.js';
export type { TerminalStyle } from './render/terminal-style.js';
export { buildBundleFile, parseExpiry } from './bundle/bundle-build-task.js';
export type { BundleBuildOptions, BundleBuildResult } from './bundle/bundle-build-task.js';
export { readBundleFile, readBundleText, writeBundleFile } from './bundle/bundle-file-store.js';
export type { BundleFileText } from './bundle/bundle-file-store.js';
export { SIGNING_KEY_ENV, signBundleFile, signingKeySource } from './bundle/bundle-sign-task.js';
export type { BundleSignResult, SigningKeySource } from './bundle/bundle-sign-task.js';
export type { BundleSummary } from './bundle/bundle-summary.js';
export { verifyBundleFile } from './bundle/bundle-verify-task.js';
export type { BundleSigner, BundleVerifyOptions, BundleVerifyResult } from './bundle/bundle-verify-task.js';
export { readPolicyRepository, readRepositoryRevision } from './bundle/policy-repository-reader.js';
export type { PolicyRepositorySnapshot, RepositoryRevision } from './bundle/policy-repository-reader.js';
export { readSigningKeyFile, readTrustedKeyFiles, writeSigningKeyFiles } from './bundle/signing-key-files.js';
export type { GeneratedKeyFiles, TrustedKeyFile } from './bundle/signing-key-files.js';
export { catalogText, pullCatalog, readPreviousCatalog, refreshCatalogFile } from './scaffold/catalog-puller.js';
export type { CatalogChanges, CatalogFileOptions, CatalogFileReport, CatalogPull, CatalogPullOptions, PulledTool } from './scaffold/catalog-puller.js';
export { writeFileSet } from './scaffold/file-set-writer.js';
export type { PlannedFile, WriteFileSetOptions, WrittenFile, WrittenStatus } from './scaffold/file-set-writer.js';
export { BUNDLE_PATH, DIFF_COMMENT_MARKER, POLICY_REVIEW_WORKFLOW_PATH, WIDENING_LABEL, checkActionRef, defaultActionRef, policyReviewWorkflow } from './scaffold/policy-review-workflow.js';
export type { ActionSource } from './scaffold/policy-review-workflow.js';
export { EXAMPLE_SERVER, policyRepositoryFiles, scaffoldPolicyRepository } from './scaffold/repository-scaffolder.js';
export type { ScaffoldOptions, ScaffoldResult } from './scaffold/repository-scaffolder.js';
export { SERVER_NAME_PATTERN, checkServerName, defaultServerName, parseServerTarget, splitCommandLine, upstreamConfigOf } from './scaffold/server-target.js';
export type { ConnectOptions, ServerTarget } from './scaffold/server-target.js';
export { renderCatalogPull, renderInit } from './render/scaffold-report-renderer.js';
export { diffExitCode, runDiff } from './diff/diff-runner.js';
export type { DiffReplay, DiffReport, DiffSide, ReplayOptions, RunDiffOptions } from './diff/diff-runner.js';
export { DIFF_FORMATS, WIDENING_LEVELS } from './diff/diff-formats.js';
export type { DiffFormat } from './diff/diff-formats.js';
export { DEFAULT_BASE_REF, WORKING_TREE_NAMES, isWorkingTree, openPolicyRepository, readPolicySetAtRef, readWorkingTreePolicySet, resolveRef } from './diff/policy-set-reader.js';
export type { PolicyRepository, PolicySetSource } from './diff/policy-set-reader.js';
export { MAX_REPLAY_CALLS, readRecordedCalls, recordedCallOf } from './diff/ledger-replay-reader.js';
export type { RecordedCalls } from './diff/ledger-replay-reader.js';
export { diffSummaryLine, renderDiffPretty } from './diff/diff-pretty-renderer.js';
export { MAX_COMMENT_LENGTH, renderDiffMarkdown } from './diff/diff-markdown-renderer.js';
export { formatExitCode, formatPolicyFiles, formatSummary, renderFormatReport } from './format/format-runner.js';
export type { FormatFilesOptions, FormatReport, FormatStatus, FormattedFileReport } from './format/format-runner.js';
export { importInterceptFiles, interceptImportExitCode, renderInterceptImport, serverNameOf } from './import/intercept-import-task.js';
export type { ImportedPolicyFile, InterceptImportOptions, InterceptImportReport } from './import/intercept-import-task.js';
