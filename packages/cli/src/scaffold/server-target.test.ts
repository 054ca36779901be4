import { describe, expect, it } from 'vitest';
import { CliError } from '../cli-error.js';
import { checkServerName, defaultServerName, parseServerTarget, splitCommandLine } from './server-target.js';

describe('splitCommandLine', () => {
  it('splits on blanks and honours quotes and backslashes like a shell, without expanding anything', () => {
    expect(splitCommandLine(`npx -y "@scope/my server" --flag='a b' x\\ y "$HOME" ''`)).toEqual(['npx', '-y', '@scope/my server', '--flag=a b', 'x y', '$HOME', '']);
    expect(splitCommandLine('  node   main.js  ')).toEqual(['node', 'main.js']);
    expect(splitCommandLine(`"say \\"hi\\"" 'it''s'`)).toEqual(['say "hi"', 'its']);
  });

  it('never acts on shell syntax: operators, substitutions, globs and comments are plain characters of the words', () => {
    // The words are passed to the server process as they are, never to a shell.
    expect(splitCommandLine('node a.js|cat; rm -rf / > out && echo $(id) `id` *.js #not-a-comment')).toEqual(['node', 'a.js|cat;', 'rm', '-rf', '/', '>', 'out', '&&', 'echo', '$(id)', '`id`', '*.js', '#not-a-comment']);
    expect(splitCommandLine(`node "$(curl evil)" '\${HOME}' "a\\$b"`)).toEqual(['node', '$(curl evil)', '${HOME}', 'a\\$b']);
    expect(splitCommandLine('node\tmain.js\n--flag\r\nx\u00a0y')).toEqual(['node', 'main.js', '--flag', 'x', 'y']);
    expect(splitCommandLine(`node "line one\nline two" 'a\\b'`)).toEqual(['node', 'line one\nline two', 'a\\b']);
    expect(splitCommandLine('node trailing\\')).toEqual(['node', 'trailing\\']);
    expect(splitCommandLine('node \\"quoted\\" \\\\')).toEqual(['node', '"quoted"', '\\']);
  });

  it('refuses an unterminated quote', () => {
    expect(() => splitCommandLine('node "main.js')).toThrow(CliError);
    expect(() => splitCommandLine("node 'main.js")).toThrow(/unterminated single quote/);
  });
});

describe('parseServerTarget', () => {
  it('reads http(s) URLs as Streamable HTTP and anything else as a stdio command', () => {
    expect(parseServerTarget('http://127.0.0.1:9000/mcp')).toEqual({ kind: 'http', url: 'http://127.0.0.1:9000/mcp', display: 'http://127.0.0.1:9000/mcp' });
    expect(parseServerTarget('node dist/main.js --stdio')).toEqual({ kind: 'stdio', command: 'node', args: ['dist/main.js', '--stdio'], display: 'node dist/main.js --stdio' });
    expect(() => parseServerTarget('ws://host/mcp')).toThrow(/only http:\/\/ and https:\/\//);
    expect(() => parseServerTarget('   ')).toThrow(/empty/);
  });
});

describe('defaultServerName', () => {
  const stdio = parseServerTarget('node /srv/servers/ccxt-mcp/build/index.js');
  it('takes the name the server reports, without package scopes and mcp/server affixes', () => {
    expect(defaultServerName(stdio, 'demo-exchange')).toBe('demo-exchange');
    expect(defaultServerName(stdio, '@modelcontextprotocol/server-everything')).toBe('everything');
    expect(defaultServerName(stdio, 'mcp-servers/everything')).toBe('everything');
    expect(defaultServerName(stdio, 'GitHub MCP Server')).toBe('github');
  });
  it('falls back to the script or the URL host, then to "server"', () => {
    expect(defaultServerName(stdio, undefined)).toBe('index');
    expect(defaultServerName(parseServerTarget('https://mcp.example.com/mcp'), undefined)).toBe('mcp.example.com');
    expect(defaultServerName(parseServerTarget('node'), '***')).toBe('node');
  });
});

describe('checkServerName', () => {
  it('accepts directory names and refuses paths and empty names', () => {
    expect(checkServerName('ccxt_2.prod-eu', '--name')).toBe('ccxt_2.prod-eu');
    for (const bad of ['../x', 'a/b', '', '-x', '.hidden']) expect(() => checkServerName(bad, '--name')).toThrow(CliError);
  });
});
