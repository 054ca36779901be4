export { canonicalJson, canonicalDigest, sha256Hex } from './canonical-json.js';
export { INPUT_SCHEMA_RULE } from './evaluate/decision.js';
export type { Agent, ApprovalLookup, ApprovalRequirement, ApprovalState, Decision, DecisionCode, Effect, LimitState, ShadowDecision, ToolCall } from './evaluate/decision.js';
export { ArgumentValidator, finiteCopy, nonFinitePaths } from './evaluate/argument-validator.js';
export type { ArgumentCheck, ArgumentIssue } from './evaluate/argument-validator.js';
export { DIAGNOSTIC_CODES, PolicyError, formatDiagnostic, hasErrors, sortDiagnostics, uniqueDiagnostics } from './diagnostic.js';
export type { Diagnostic, DiagnosticCode, Severity } from './diagnostic.js';
export type * from './generated/policy-types.js';
export type { PolicyTestFile, TestCase, TestCall, TestStep, Expectation } from './generated/test-file-types.js';
export { jsonEqual, jsonType } from './json-value.js';
export type { JsonType } from './json-value.js';
export { MemoryLimitStore } from './evaluate/limit-store.js';
export type { LimitRequest, LimitResult, LimitStore } from './evaluate/limit-store.js';
export { MISSING, parsePath } from './compile/path-expression.js';
export type { PathExpression, PathGetter } from './compile/path-expression.js';
export { compilePolicy, tryCompilePolicy, windowSeconds } from './compile/policy-compiler.js';
export { isPendingDecision } from './evaluate/compiled-policy.js';
export { parseDuration } from './parse/duration.js';
export type { CompileOptions } from './compile/policy-compiler.js';
export type { CompiledPolicy, DecideContext, PendingDecision } from './evaluate/compiled-policy.js';
export { loadPolicy } from './compile/policy-loader.js';
export { revisionText } from './policy-revision.js';
export type { PolicyRevision } from './policy-revision.js';
export { admitPolicy, policyFileConflict } from './lint/policy-admission.js';
export type { AdmitPolicyOptions, PolicyAdmission, PolicyCandidate } from './lint/policy-admission.js';
export { CATALOG_FILE_NAME, classifyRepositoryPath, isPolicyFileName, isServerDirectoryName, POLICIES_DIR, POLICY_FILE_NAMES, TEST_FILE_PATTERN } from './policy-repository-layout.js';
export type { PolicyFileName, RepositoryFileKind } from './policy-repository-layout.js';
export { compileRegex, MAX_BACKTRACKING_STEPS, RegexSupportError } from './compile/regex-compiler.js';
export type { LinearRegex, RegexOptions } from './compile/regex-compiler.js';
export type { LoadedPolicy } from './compile/policy-loader.js';
export { listRules, toolRuleId } from './compile/policy-rules.js';
export type { RuleInfo, RuleKind } from './compile/policy-rules.js';
export { policySchema, testFileSchema, validateDocument } from './parse/schema-validator.js';
export type { DocumentKind } from './parse/schema-validator.js';
export { parseSourceDocument, pointerOf, pointerToken, valueAtPointer } from './parse/source-document.js';
export type { ParseOptions, ParseResult, SourceDocument, SourcePosition } from './parse/source-document.js';
export {
  TEST_AGENT,
  TEST_APPROVAL_ID,
  TEST_APPROVER,
  TEST_EPOCH,
  TEST_SESSION,
  allowItem,
  computeCoverage,
  coverageItems,
  parseTestFile,
  runTestFile,
} from './test-runner.js';
export type {
  ActualDecision,
  CoverageCount,
  CoverageItem,
  CoverageReport,
  ExpectedDecision,
  ExpectedShadowDecision,
  ParsedTestFile,
  RunTestFileOptions,
  TestCaseResult,
  TestFailure,
  TestFileResult,
} from './test-runner.js';
export { buildCatalog, catalogInputSchemas, findCatalogTool, parseCatalog } from './catalog/catalog.js';
export type { Catalog, CatalogParseResult, CatalogTool, ListedTool } from './catalog/catalog.js';
export { resolveArgumentPath } from './catalog/argument-path-resolver.js';
export type { ArgumentResolution, ArgumentStep, SchemaType } from './catalog/argument-path-resolver.js';
export { classifyTool, RISK_CATEGORIES, RISK_LEVEL_OF, RISK_LEVELS, splitToolName, toolRisk } from './catalog/risk-classifier.js';
export type { ClassifiableTool, RiskCategory, RiskClass, RiskLevel, ToolAnnotations } from './catalog/risk-classifier.js';
export { lintPolicy } from './lint/policy-linter.js';
export { lintTestFile } from './lint/test-file-linter.js';
export type { TestFileLintOptions } from './lint/test-file-linter.js';
export type { LintOptions, LintResult } from './lint/policy-linter.js';
export { describeSchemaError, describeSchemaErrors } from './parse/schema-error-description.js';
export { closestName, OPERATOR_SYNONYMS } from './lint/name-suggester.js';
export { DOCS_URL, REPOSITORY_SLUG, REPOSITORY_URL, schemaUrl } from './project-links.js';
export type { SchemaErrorDescription, SchemaErrorWording } from './parse/schema-error-description.js';
export { exampleArguments, exampleValue } from './catalog/example-arguments.js';
export { STARTER_LIMITS, starterPolicy, starterTreatment } from './starter-policy.js';
export type { StarterLimits, StarterPolicy, StarterPolicyOptions, StarterToolPlan, StarterTreatment } from './starter-policy.js';
export { buildBundle, buildBundleWithSources } from './bundle/bundle-builder.js';
export type { BuildBundleInput, BuiltBundle, BundleSourceFile } from './bundle/bundle-builder.js';
export { bundleTestPolicyPath, compileBundle } from './bundle/bundle-compiler.js';
export type { BundleCompilation, BundleTestSummary, CompileBundleOptions } from './bundle/bundle-compiler.js';
export { checkBundleHashes } from './bundle/bundle-content-hash.js';
export type { BundleHashCheck } from './bundle/bundle-content-hash.js';
export { BundleError } from './bundle/bundle-error.js';
export type { BundleErrorCode } from './bundle/bundle-error.js';
export {
  BUNDLE_FORMAT,
  BUNDLE_SIGNATURE_ALGORITHM,
  bundleDigest,
  bundleShapeProblem,
  classifyBundlePath,
  parseBundle,
  serializeBundle,
} from './bundle/bundle-format.js';
export type { BundleFileEntry, BundleFileKind, BundleManifest, BundleSignature, PolicyBundle } from './bundle/bundle-format.js';
export { manifestSigningBytes, signBundle } from './bundle/bundle-signer.js';
export { resolveTrust, verifyBundle, verifyBundleText } from './bundle/bundle-verifier.js';
export type {
  AcceptedBundle,
  BundleRefusal,
  BundleRefusalCode,
  BundleVerification,
  ResolvedTrust,
  TrustedKey,
  VerifyBundleOptions,
} from './bundle/bundle-verifier.js';
export { generateSigningKey, keyIdOf, readPrivateKey, readPublicKey } from './bundle/signing-key.js';
export type { GeneratedSigningKey, PublicSigningKey } from './bundle/signing-key.js';
export { diffPolicySets, effectRank, UNLISTED_TOOL, widenedTools } from './diff/policy-diff.js';
export type { ApprovalFlip, DecisionSummary, FlipExample, PolicyDiffOptions, PolicySetDiff, PolicySetEntry, PrecedingCalls, ServerDiff, ToolChange, ToolDiff, WidenedTool } from './diff/policy-diff.js';
export { conditionText, diffPolicyStructure } from './diff/structural-diff.js';
export type { StructuralChange, StructuralChangeKind, StructuralDiffOptions } from './diff/structural-diff.js';
export { compareApprovals, DEFAULT_APPROVAL_TIMEOUT_MS } from './diff/approval-comparison.js';
export type { ApprovalComparison, ApprovalField } from './diff/approval-comparison.js';
export { generateExampleCalls, withAmounts } from './diff/example-call-generator.js';
export type { ExampleCallInput, ExampleCalls, SequenceShape } from './diff/example-call-generator.js';
export { sampleRegex } from './diff/regex-sampler.js';
export { FLIP_KINDS, flipKind, replayDecisions } from './diff/decision-replay.js';
export type { FlipKind, RecordedCall, ReplayFlip, ReplayReport } from './diff/decision-replay.js';
export { DEFAULT_FORMAT_WIDTH, formatDocument, formatJsonValue, formattedKindOf } from './format/policy-formatter.js';
export type { FormatOptions, FormattedDocument } from './format/policy-formatter.js';
export { POLICY_LAYOUT, TEST_FILE_LAYOUT, childLayout, layoutOf, orderedKeys } from './format/document-layout.js';
export type { FormattedKind, NodeLayout } from './format/document-layout.js';
export { importInterceptPolicy } from './import/intercept/intercept-importer.js';
export type { InterceptImportResult } from './import/intercept/intercept-importer.js';
export { IMPORT_DIFFERENCES } from './import/intercept/intercept-import-report.js';
export type { ImportDifference, ImportDifferenceCode, ImportedRule, ImportLocation, ImportNote, InterceptImport, RuleTarget } from './import/intercept/intercept-import-report.js';
export { readInterceptPolicy, regexCompiles, splitInlineFlags } from './import/intercept/intercept-policy-reader.js';
export type { IgnoredKey, InterceptReadResult } from './import/intercept/intercept-policy-reader.js';
export { counterScope, INTERCEPT_OPERATORS } from './import/intercept/intercept-policy.js';
export type { InterceptCondition, InterceptOperator, InterceptPolicy, InterceptRule, InterceptSource, InterceptState, InterceptTool, InterceptWindow } from './import/intercept/intercept-policy.js';
export { traceDecision } from './explain/decision-tracer.js';
export { TRACE_STEPS } from './explain/decision-trace.js';
export type { DecisionTrace, TraceApproval, TraceCondition, TraceEvaluation, TraceLimit, TraceRule, TraceShadowMode, TraceStep, TraceStepName, TraceStepStatus, TraceVerdict } from './explain/decision-trace.js';
export { plannedCounters, seedCounters } from './explain/counter-plan.js';
export type { PlannedCounter } from './explain/counter-plan.js';
export { handsOutSecrets } from './catalog/risk-classifier.js';
