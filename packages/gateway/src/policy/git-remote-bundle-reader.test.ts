import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../gateway-error.js';
import { GitRemoteBundleReader, redactUrl } from './git-remote-bundle-reader.js';

describe('GitRemoteBundleReader', () => {
  it('keeps the credentials of a URL out of its location and its errors', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'tollgate-remote-'));
    try {
      // Port 1 on loopback refuses at once: the clone fails with git's own message.
      const reader = new GitRemoteBundleReader({ url: 'https://bot:s3cret-token@127.0.0.1:1/acme/policies.git', ref: 'main', path: 'bundles/bundle.json', stateDir });
      expect(reader.location).toBe('https://bot:***@127.0.0.1:1/acme/policies.git@main:bundles/bundle.json');
      const failure = await reader.resolve().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(GatewayError);
      expect((failure as GatewayError).code).toBe('policy.unavailable');
      expect((failure as GatewayError).message).toMatch(/^cannot clone the policy repository https:\/\/bot:\*\*\*@127\.0\.0\.1:1\/acme\/policies\.git: /);
      expect((failure as GatewayError).message).not.toContain('s3cret');
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('redacts only the secret part of a URL', () => {
    expect(redactUrl('https://x-access-token:ghs_abc@github.com/acme/p.git')).toBe('https://x-access-token:***@github.com/acme/p.git');
    expect(redactUrl('https://github.com/acme/p.git')).toBe('https://github.com/acme/p.git');
    expect(redactUrl('ssh://git@github.com/acme/p.git')).toBe('ssh://git@github.com/acme/p.git');
    expect(redactUrl('file:///srv/policies.git')).toBe('file:///srv/policies.git');
  });
});
