import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './chromium-browser.js';
import { spawnCli, tempTree, type TempTree } from './cli-process.js';

/** Waits until the child's output so far matches `pattern`. */
function waitForOutput(read: () => string, pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = (): void => {
      const m = pattern.exec(read());
      if (m) return resolve(m);
      if (Date.now() - started > ms) return reject(new Error(`no ${pattern} within ${ms} ms; output so far:\n${read()}`));
      setTimeout(check, 50);
    };
    check();
  });
}

describe('tollgate demo --console', () => {
  let tree: TempTree;
  let child: ChildProcessWithoutNullStreams | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  beforeAll(async () => {
    tree = await tempTree();
  });
  afterAll(async () => {
    await browser?.close();
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await tree?.remove();
  });

  it('keeps the gateway running with a held cancel_order that a person approves in the console; Ctrl-C stops it cleanly', async () => {
    child = spawnCli(['demo', '--console'], tree.root);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    const [, url, token, approvalId] = await waitForOutput(
      () => stdout,
      /The approvals console is open\S*: (http:\/\/127\.0\.0\.1:\d+\/console)\n\s+Sign in as desk-lead with this token: (\S+)\n\s+A cancel_order is held for a desk lead \(approval ([0-9a-f-]{36})\)/,
      90_000,
    );
    // The script ran before: the same verdicts as `tollgate demo`.
    expect(stdout).toMatch(/cancel it: held for a desk lead\s+cancel_order\s+held, then approved by desk-lead: ran/);
    expect(stdout).toMatch(/desk-bot-2: a resting limit order\s+create_spot_limit_order\s+allowed/);

    browser = await launchChromium();
    const page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(url!);
    await page.getByLabel('Token').fill(token!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const card = page.locator(`#pending article.approval[data-id="${approvalId}"]`);
    await card.waitFor();
    expect(await card.innerText()).toMatch(/desk-bot-2\s*\(team=desk, shift=late\)/);
    // The script's decisions are in the live record too.
    await page.locator('#decisions li.decision[data-tool="withdraw_cryptocurrency"]').first().waitFor();
    await card.locator('input.vote-reason').fill('checked by hand');
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.locator(`#history li.history-item[data-id="${approvalId}"]`, { hasText: 'the call ran' }).waitFor();
    const ran = await waitForOutput(() => stdout, /desk-bot-2 cancels it: held for you\s+cancel_order\s+held, then approved by desk-lead: ran\n(.*)/, 15_000);
    expect(ran[1]).toContain('"cancelReason":"canceled by user"');
    await waitForOutput(() => stdout, /press Ctrl-C to stop/, 5_000);
    // Still running until Ctrl-C.
    expect(child.exitCode).toBeNull();
    expect((await fetch(url!)).status).toBe(200);

    child.kill('SIGINT');
    expect(await exited, stderr).toBe(0);
    expect(stdout).toMatch(/approval\.granted\s+cancel_order\s+desk-lead/);
    expect(stdout).toMatch(/ok: \d+ events in 1 strand\(s\), every hash link intact, no gaps/);
    expect(stdout).toContain('every allowed call has its outcome');
    await expect(fetch(url!)).rejects.toThrow();
  }, 150_000);
});
