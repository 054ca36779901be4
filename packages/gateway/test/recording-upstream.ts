// An MCP server on stdio that appends every message it receives, as one JSON line, to the file
// named by its first argument: the tests read it to see exactly what reached the upstream.
// Tools: `echo` ({ text }), `slow` ({ ms, text? }, answers after ms milliseconds) and `log-later`
// ({ ms, text }, answers at once and logs text ms later, about no request); a prompt `greet`
// ({ name }); logging. Usage: node --import tsx recording-upstream.ts <record-file>
import { appendFileSync } from 'node:fs';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, GetPromptRequestSchema, ListPromptsRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const record = process.argv[2];
if (!record) throw new Error('usage: recording-upstream.ts <record-file>');

const server = new Server({ name: 'recording', version: '1' }, { capabilities: { tools: {}, prompts: {}, logging: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    { name: 'echo', description: 'Answers with its text.', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
    {
      name: 'slow',
      description: 'Answers after ms milliseconds.',
      inputSchema: { type: 'object', properties: { ms: { type: 'integer', minimum: 0, maximum: 60000 }, text: { type: 'string' } }, required: ['ms'] },
    },
    {
      name: 'log-later',
      description: 'Logs text after ms milliseconds, unrelated to any request.',
      inputSchema: { type: 'object', properties: { ms: { type: 'integer', minimum: 0, maximum: 60000 }, text: { type: 'string' } }, required: ['ms', 'text'] },
    },
  ],
}));
server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
  const args = (request.params.arguments ?? {}) as { text?: string; ms?: number };
  if (request.params.name === 'slow') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, args.ms ?? 0);
      extra.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return { content: [{ type: 'text', text: `slept ${args.ms} ms${args.text ? `: ${args.text}` : ''}` }] };
  }
  if (request.params.name === 'log-later') {
    setTimeout(() => void server.sendLoggingMessage({ level: 'info', data: args.text }).catch(() => undefined), args.ms ?? 0);
    return { content: [{ type: 'text', text: 'later' }] };
  }
  return { content: [{ type: 'text', text: String(args.text) }] };
});
server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: [{ name: 'greet', arguments: [{ name: 'name', required: true }] }] }));
server.setRequestHandler(GetPromptRequestSchema, async (request) => ({
  messages: [{ role: 'user', content: { type: 'text', text: `Hello, ${request.params.arguments?.name ?? 'nobody'}` } }],
}));

const transport = new StdioServerTransport();
await server.connect(transport);
const deliver = transport.onmessage;
transport.onmessage = (message) => {
  appendFileSync(record, `${JSON.stringify(message)}\n`);
  deliver?.(message);
};
