import { formatDiagnostic, type Diagnostic } from '@tollgate/policy';
import type { TestSuiteResult } from '../test-suite.js';
import { failureText } from './test-failure-format.js';

// Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF and CR; lone
// surrogates; U+FFFE and U+FFFF): they become U+FFFD so the document stays well-formed.
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Escapes text for XML element content: `&`, `<`, `>`, and characters XML 1.0 forbids. */
export function escapeXmlText(text: string): string {
  return text.replace(NOT_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Escapes text for a double-quoted XML attribute: as {@link escapeXmlText}, plus quotes, and
 * tab, LF and CR as character references so attribute normalisation keeps them.
 */
export function escapeXmlAttribute(text: string): string {
  return escapeXmlText(text).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

function attributes(values: Record<string, string | number | undefined>): string {
  return Object.entries(values)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXmlAttribute(String(v))}"`)
    .join('');
}

/** A test file's path as a JUnit class name: `policies/ccxt/orders.test.json` -> `policies.ccxt.orders`. */
export function junitClassName(file: string): string {
  return file.replace(/\.test\.(json|ya?ml)$/i, '').replace(/^(\.\.\/)+/, '').replace(/[\\/]+/g, '.');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/**
 * Renders a test run as JUnit XML: a `<testsuites>` root, one `<testsuite>` per test file
 * (name and `file` = its path), one `<testcase name classname file line>` per case, and a
 * `<failure message type="decision-mismatch">` holding the call, the expected and the
 * actual decision for a failed case. A test or policy file that could not be run is a
 * `<testsuite>` whose one case has an `<error type="TGxxx">` with its diagnostics.
 */
export function renderJunit(result: TestSuiteResult): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const byFile = new Map<string, Diagnostic[]>();
  for (const d of result.diagnostics) {
    if (d.severity !== 'error') continue;
    byFile.set(d.file, [...(byFile.get(d.file) ?? []), d]);
  }
  const tests = result.passed + result.failed + byFile.size;
  const time = result.files.reduce((n, f) => n + f.durationMs, 0);
  out.push(`<testsuites${attributes({ name: 'tollgate test', tests, failures: result.failed, errors: byFile.size, time: seconds(time) })}>`);
  for (const file of result.files) {
    out.push(
      `  <testsuite${attributes({ name: file.file, tests: file.cases.length, failures: file.failed, errors: 0, skipped: 0, time: seconds(file.durationMs), file: file.file })}>`,
    );
    if (file.policy) out.push(`    <properties><property${attributes({ name: 'policy', value: file.policy })}/></properties>`);
    for (const c of file.cases) {
      const open = `    <testcase${attributes({ name: c.name, classname: junitClassName(file.file), file: c.file, line: c.line })}`;
      if (c.passed) {
        out.push(`${open}/>`);
        continue;
      }
      const message = c.failure?.mismatches.join('; ') ?? 'failed';
      out.push(`${open}>`);
      out.push(`      <failure${attributes({ message, type: 'decision-mismatch' })}>${escapeXmlText(failureText(c))}</failure>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  for (const [file, diagnostics] of byFile) {
    out.push(`  <testsuite${attributes({ name: file, tests: 1, failures: 0, errors: 1, skipped: 0, time: seconds(0), file })}>`);
    out.push(`    <testcase${attributes({ name: `${file} is valid`, classname: junitClassName(file), file, line: diagnostics[0]!.line })}>`);
    out.push(
      `      <error${attributes({ message: diagnostics[0]!.message, type: diagnostics[0]!.code })}>${escapeXmlText(diagnostics.map(formatDiagnostic).join('\n'))}</error>`,
    );
    out.push('    </testcase>');
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n');
}
