export { GatewayError, errorMessage } from './gateway-error.js';
export type { ConfigProblem, GatewayErrorCode } from './gateway-error.js';
export { DEFAULT_REQUEST_LIMITS } from './config/gateway-config.js';
export type { ApprovalNotifyEvent, NotificationDeliveryConfig, WebhookReceiverConfig } from './config/gateway-config.js';
export type { DirectoryPolicyConfig, GatewayConfig, GitPolicyConfig, HttpUpstreamConfig, PolicySourceConfig, RedactRule, StdioUpstreamConfig, TokenAgent, TrustedKeyConfig, UpstreamConfig } from './config/gateway-config.js';
export { gatewayConfigSchema, loadGatewayConfig, parseGatewayConfig, resolveGatewayConfig } from './config/config-loader.js';
export type { Upstream, UpstreamInfo, UpstreamRequest, UpstreamRequestOptions } from './upstream/upstream.js';
export { ClientUpstream, GATEWAY_CLIENT_INFO } from './upstream/client-upstream.js';
export { StdioUpstream } from './upstream/stdio-upstream.js';
export { HttpUpstream } from './upstream/http-upstream.js';
export { abortIsolatingFetch } from './upstream/abort-isolating-fetch.js';
export type { FetchLike } from './upstream/abort-isolating-fetch.js';
export { NAME_SEPARATOR, UpstreamRegistry } from './upstream/upstream-registry.js';
export type { RoutedTool, UpstreamNotificationListener } from './upstream/upstream-registry.js';
export { snapshotToolList } from './upstream/tool-list-snapshot.js';
export type { ToolListSnapshot } from './upstream/tool-list-snapshot.js';
export type {
  ApprovalRequestedEvent,
  ApprovalResolvedEvent,
  CallIdentity,
  DecisionEvent,
  DecisionSink,
  GatewayEvent,
  JsonObject,
  JsonValue,
  OutcomeEvent,
  PolicyActivatedEvent,
  PolicyRejectedEvent,
  SinkHealth,
} from './ledger/decision-sink.js';
export { JsonRpcError, refusal, unknownTool } from './pipeline/call-result.js';
export type { RefusalCode, RefusalContent } from './pipeline/call-result.js';
export { ToolCallPipeline } from './pipeline/tool-call-pipeline.js';
export type { Caller, PipelineApprovals, ToolCallParams, ToolCallPipelineOptions } from './pipeline/tool-call-pipeline.js';
export type { ActivePolicy, DirectorySourceStatus, GitSourceStatus, PolicySource, PolicySourceStatus, SourceRefusal } from './policy/policy-source.js';
export type { ActivatedBundle, BundleFacts } from './policy/bundle-facts.js';
export { openPolicySource } from './policy/open-policy-source.js';
export type { OpenPolicySourceOptions } from './policy/open-policy-source.js';
export { GitPolicySource } from './policy/git-policy-source.js';
export { BundleCheckThread } from './policy/git-bundle-check-thread.js';
export type { BundleChecker, BundleCheckRequest, BundleCheckThreadOptions, BundleCheckVerdict, CheckedPolicyValue } from './policy/git-bundle-check-thread.js';
export type { GitCheckOutcome, GitPolicySourceOptions, GitRefusalCode } from './policy/git-policy-source.js';
export type { GitBundleReader } from './policy/git-bundle-reader.js';
export { GitLocalBundleReader } from './policy/git-local-bundle-reader.js';
export { GIT_ENVIRONMENT_ALLOWED, gitClient, gitEnvironment, isNotARepositoryError } from './policy/git-environment.js';
export type { GitClientOptions } from './policy/git-environment.js';
export type { GitLocalBundleReaderOptions } from './policy/git-local-bundle-reader.js';
export { GitRemoteBundleReader } from './policy/git-remote-bundle-reader.js';
export type { GitRemoteBundleReaderOptions } from './policy/git-remote-bundle-reader.js';
export { PolicyStateStore } from './policy/policy-state-store.js';
export type { PolicyState } from './policy/policy-state-store.js';
export { DirectoryPolicySource } from './policy/directory-policy-source.js';
export type { DirectoryPolicyOptions } from './policy/directory-policy-source.js';
export { GatewayMetrics } from './metrics/gateway-metrics.js';
export { GATEWAY_SERVER_INFO, GatewaySession } from './downstream/gateway-session.js';
export type { GatewaySessionOptions } from './downstream/gateway-session.js';
export { LOGGING_LEVELS, PassthroughRouter } from './downstream/passthrough-router.js';
export type { LoggingLevel } from './downstream/passthrough-router.js';
export { exceedsDepth, parseAgentMessage, refusalMessage } from './downstream/message-limits.js';
export type { MessageLimits, MessageRefusal } from './downstream/message-limits.js';
export { LimitedStdioServerTransport } from './downstream/stdio-server-transport.js';
export { startHttpListener } from './downstream/http-listener.js';
export { HttpSessionTransport } from './downstream/http-session-transport.js';
export type { HttpListener, HttpListenerOptions } from './downstream/http-listener.js';
export { ledgerServiceOptions, startGateway } from './gateway.js';
export type { GatewayDependencies, GatewayServices, RunningGateway } from './gateway.js';
export { startAdminServer } from './admin/admin-server.js';
export type { ApprovalBody, ApprovalView, DeliveryAttemptBody, DeliveryBody } from './admin/approvals-api.js';
export { ApprovalDesk } from './approvals/approval-desk.js';
export type { ApprovalCall, ApprovalDeskOptions, ApprovalWait, VoteOutcome } from './approvals/approval-desk.js';
export { ApproverDirectory } from './approvals/approver-directory.js';
export type { AdminIdentity, DecidableRequest, DecideRefusal } from './approvals/approver-directory.js';
export type { AdminPolicyReport, AdminServer, AdminServerOptions, AdminSourceReport } from './admin/admin-server.js';
export { PostgresLimitStore } from '@tollgate/ledger';
export type { PostgresLimitStoreOptions } from '@tollgate/ledger';
export type { ApprovalNotifier, ApprovalTransition } from './approvals/notify/approval-notifier.js';
export { WebhookNotifier } from './approvals/notify/webhook-notifier.js';
export type { WebhookNotifierOptions } from './approvals/notify/webhook-notifier.js';
export { WEBHOOK_HEADERS, signWebhook } from './approvals/notify/webhook-signature.js';
export { consoleLink, renderJsonNotification } from './approvals/notify/json-notification.js';
export type { ApprovalNotificationBody } from './approvals/notify/json-notification.js';
export { renderSlackNotification } from './approvals/notify/slack-notification.js';
export type { SlackBlock, SlackMessage, SlackText } from './approvals/notify/slack-notification.js';
export { retryDelayMs } from './approvals/notify/retry-schedule.js';
export type { RetrySchedule } from './approvals/notify/retry-schedule.js';
export { ApprovalsConsole, CONSOLE_COOKIE, CONSOLE_CSP } from './admin/approvals-console.js';
export type { ApprovalsConsoleOptions } from './admin/approvals-console.js';
export type { ConsoleApproval, ConsoleErrorBody, ConsoleEvents, ConsoleIdentity, ConsoleSessionBody, ConsoleSignedOut, ConsoleSnapshot } from './admin/console-messages.js';
export { ConsoleSessions } from './admin/console-sessions.js';
export type { ConsoleSession, ConsoleSessionsOptions } from './admin/console-sessions.js';
export { DEFAULT_CONSOLE_ASSETS_DIR, loadConsoleAssets } from './admin/console-assets.js';
export type { ConsoleAsset, ConsoleAssets } from './admin/console-assets.js';
export { SignInLimiter } from './admin/sign-in-limiter.js';
export type { SignInLimiterOptions } from './admin/sign-in-limiter.js';
export { DecisionFeed, FEED_EFFECTS, FEED_MINUTES } from './metrics/decision-feed.js';
export type { DecisionFeedOptions, FeedDecision, FeedEffect, FeedMinute } from './metrics/decision-feed.js';
export { FeedSink } from './ledger/feed-sink.js';
export type { TelemetryConfig, TraceExportConfig } from './config/gateway-config.js';
export { TELEMETRY_DEFAULTS } from './config/telemetry-config.js';
export { startTelemetry } from './telemetry/telemetry.js';
export type { NetworkTransport, Telemetry, TelemetryDependencies, TelemetryMetrics, ToolCallStart, UpstreamCallStart } from './telemetry/telemetry.js';
export { TracedSink } from './ledger/traced-sink.js';
export { TracedUpstream } from './upstream/traced-upstream.js';
export type { UpstreamPeer } from './upstream/traced-upstream.js';
