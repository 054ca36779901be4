/**
 * Where Tollgate lives: the one place the repository's address is written in code. SARIF
 * reports link their rules into its docs, `tollgate init` writes a workflow that uses the
 * GitHub Action at its root, and the JSON Schemas' `$id`s (static files, which cannot import
 * this) and every package.json's `repository` are checked against it by a test
 * (packages/cli/test/project-links.test.ts). A fork that publishes its own build changes it here.
 */
export const REPOSITORY_URL = 'https://github.com/tollgate-project/tollgate';

/** `owner/name` of the repository on GitHub: what a workflow's `uses:` names. */
export const REPOSITORY_SLUG = new URL(REPOSITORY_URL).pathname.slice(1);

/** The documentation (docs/ of the main branch), ending with `/`: `${DOCS_URL}lint-rules.md`. */
export const DOCS_URL = `${REPOSITORY_URL}/blob/main/docs/`;

/** Where a JSON Schema of the repository is published: its file on the main branch, as `$id`. */
export function schemaUrl(pathInRepository: string): string {
  return `${REPOSITORY_URL}/blob/main/${pathInRepository}`;
}
