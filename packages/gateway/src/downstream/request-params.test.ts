import { CallToolRequestSchema, ClientNotificationSchema, ClientRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { CLIENT_NOTIFICATION_METHODS, CLIENT_REQUEST_METHODS, acceptsNotification, methodLabel } from './agent-notifications.js';
import { requestParamsProblem } from './request-params.js';

describe('agent methods', () => {
  it('lists exactly the client methods of the SDK\'s MCP schema', () => {
    // A new SDK with more client methods fails here, so that the labels and the guard are reviewed.
    expect([...CLIENT_REQUEST_METHODS].sort()).toEqual(ClientRequestSchema.options.map((o) => o.shape.method.value).sort());
    expect([...CLIENT_NOTIFICATION_METHODS].sort()).toEqual(ClientNotificationSchema.options.map((o) => o.shape.method.value).sort());
  });

  it('takes only the notifications the gateway acts on', () => {
    expect(['notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'notifications/roots/list_changed'].every(acceptsNotification)).toBe(true);
    expect(['tools/call', 'notifications/tasks/status', 'notifications/vendor/heartbeat', ''].some(acceptsNotification)).toBe(false);
  });

  it('turns an agent\'s method into a label from a fixed set', () => {
    expect(methodLabel('tools/call')).toBe('tools/call');
    expect(methodLabel('notifications/tasks/status')).toBe('notifications/tasks/status');
    expect(methodLabel('x'.repeat(10_000))).toBe('other');
    expect(methodLabel('tools/call ')).toBe('other');
    expect(methodLabel(7)).toBe('other');
  });
});

describe('request params', () => {
  it('accepts what the SDK accepts, and leaves unknown methods alone', () => {
    const valid = { method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, _meta: { progressToken: 3 } } };
    expect(CallToolRequestSchema.safeParse(valid).success).toBe(true);
    expect(requestParamsProblem(valid)).toBeUndefined();
    expect(requestParamsProblem({ method: 'tools/list' })).toBeUndefined();
    expect(requestParamsProblem({ method: 'vendor/anything', params: 5 })).toBeUndefined();
  });

  it('names each wrong field and what it must be', () => {
    expect(requestParamsProblem({ method: 'tools/call', params: { name: null, arguments: 5 } })).toBe(
      'Invalid params: in tools/call, params.name must be a string, not null; params.arguments must be an object, not a number',
    );
    expect(requestParamsProblem({ method: 'tools/call', params: { name: 'x', _meta: { progressToken: true } } })).toBe(
      'Invalid params: in tools/call, params._meta.progressToken must be a string or a number, not true',
    );
    expect(requestParamsProblem({ method: 'resources/read', params: {} })).toBe('Invalid params: in resources/read, params.uri is missing: it must be a string');
    expect(requestParamsProblem({ method: 'completion/complete', params: { ref: { type: 'ref/prompt' }, argument: { name: 'a', value: 'b' } } })).toBe(
      'Invalid params: in completion/complete, params.ref matches none of the forms MCP defines (form 1: params.ref.name is missing: it must be a string; form 2: params.ref.type must be "ref/resource", not "ref/prompt", and params.ref.uri is missing: it must be a string)',
    );
  });

  it('names at most three problems', () => {
    const problem = requestParamsProblem({ method: 'initialize', params: { protocolVersion: 1, capabilities: 2, clientInfo: 3, _meta: { progressToken: [] } } });
    expect(problem).toMatch(/^Invalid params: in initialize, (params\.[\w.]+ must be [^;]+; ){2}params\.[\w.]+ must be [^;]+ \(and 1 more\)$/);
  });
});
