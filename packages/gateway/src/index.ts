export { GatewayError, errorMessage } from './gateway-error.js';
export type { ConfigProblem, GatewayErrorCode } from './gateway-error.js';
export { DEFAULT_REQUEST_LIMITS } from './config/gateway-config.js';
export type { GatewayConfig, HttpUpstreamConfig, StdioUpstreamConfig, TokenAgent, UpstreamConfig } from './config/gateway-config.js';
export { gatewayConfigSchema, loadGatewayConfig, parseGatewayConfig, resolveGatewayConfig } from './config/config-loader.js';
