import type { ToolDiff } from '@tollgate/policy';
import { describe, expect, it } from 'vitest';
import { MAX_COMMENT_LENGTH, renderDiffMarkdown } from './diff-markdown-renderer.js';
import type { DiffReport } from './diff-runner.js';

function tool(i: number, change: ToolDiff['change'], risk: ToolDiff['risk']): ToolDiff {
  const call = { tool: `tool_${i}`, args: { amount: 1000.01, note: 'a | b <script>' }, agent: { id: 'test-agent' }, session: { id: 'test-session' } };
  return {
    tool: `tool_${i}`,
    risk,
    category: 'financial',
    risk_source: 'catalog',
    change,
    checked: 10,
    wider: change === 'narrower' ? 0 : 1,
    narrower: change === 'wider' ? 0 : 1,
    examples: [{ direction: change === 'narrower' ? 'narrower' : 'wider', call, base: { effect: 'deny', rule: 'default', reason: 'r' }, head: { effect: 'allow', rule: null, reason: 'r' } }],
  };
}

function report(tools: ToolDiff[]): DiffReport {
  const widened = tools.filter((t) => t.change === 'wider' && t.risk === 'critical').map((t) => ({ server: 'pay', tool: t.tool, risk: t.risk, change: 'wider' as const }));
  return {
    base: { ref: 'origin/main', commit: 'a'.repeat(40), files: [] },
    head: { ref: 'working tree', commit: null, files: [] },
    servers: [{ server: 'pay', status: 'changed', base_digest: 'b', head_digest: 'c', changes: [], tools }],
    totals: { changes: 0, wider: widened.length, narrower: 0, both: 0, unchanged: 0 },
    replay: null,
    fail_on_widening: 'critical',
    widened,
    failed: widened.length > 0,
  };
}

describe('renderDiffMarkdown', () => {
  it('escapes arguments inside table cells', () => {
    const text = renderDiffMarkdown(report([tool(1, 'wider', 'critical')]));
    expect(text.startsWith('<!-- tollgate-diff -->\n## Tollgate policy diff: <code>origin/main</code> (aaaaaaa) → working tree\n')).toBe(true);
    expect(text).toContain('a &#124; b &lt;script&gt;');
    expect(text).not.toContain('<script>');
  });

  it('says what made a held call\'s approval easier to get', () => {
    const t = tool(1, 'wider', 'critical');
    const held = { effect: 'approval_required' as const, rule: 'tools.tool_1.action', reason: 'r' };
    const example = {
      ...t.examples[0]!,
      base: held,
      head: held,
      approval: { fields: ['approvers', 'timeout', 'min_approvals'] as const, base: { approvers: ['risk'], timeout_ms: null, min_approvals: 2 }, head: { approvers: null, timeout_ms: 3_600_000, min_approvals: 1 } },
    };
    const text = renderDiffMarkdown(report([{ ...t, examples: [example] }]));
    expect(text).toContain(
      '| <code>approval_required (tools.tool_1.action)</code> | <code>approval_required (tools.tool_1.action)</code> <code>approvers ["risk"] → any approver, timeout gateway default → 1h, min_approvals 2 → 1</code> |',
    );
  });

  it('stays within GitHub\'s comment limit, most severe tools first', () => {
    const tools = Array.from({ length: 3000 }, (_, i) => tool(i, i % 3 === 0 ? 'wider' : 'narrower', i % 3 === 0 ? 'critical' : 'low'));
    const text = renderDiffMarkdown(report(tools));
    expect(text.length).toBeLessThanOrEqual(MAX_COMMENT_LENGTH);
    expect(text).toMatch(/and 980 more\. This needs an explicit approval/);
    expect(text).toMatch(/\| … \| \d+ more tools \| \| \| \|/);
    expect(text).toMatch(/_The comment is shortened to GitHub's size limit: \d+ more sections of details/);
    // The first rows are the critical widenings.
    const rows = text.split('\n').filter((l) => l.startsWith('| pay |'));
    expect(rows[0]).toContain('| critical | ⬆️ wider |');
  });
});
