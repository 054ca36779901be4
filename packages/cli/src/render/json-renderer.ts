/**
 * Renders a command's typed result as the document `--format json` prints: two-space
 * indented JSON, the same value `--json` prints.
 */
export function renderJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
