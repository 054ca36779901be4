import { mkdir, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { buildCatalog, starterPolicy, type Catalog, type Policy, type PolicyTestFile, type StarterToolPlan } from '@tollgate/policy';
import { gitClient } from '@tollgate/gateway/git';
import { CliError, ExitCode } from '../cli-error.js';
import { CATALOG_FILE_NAME } from '../policy-files.js';
import { catalogText, pullCatalog, type CatalogPull } from './catalog-puller.js';
import { writeFileSet, type PlannedFile, type WrittenFile } from './file-set-writer.js';
import { BUNDLE_PATH, DIFF_COMMENT_MARKER, POLICY_REVIEW_WORKFLOW_PATH, WIDENING_LABEL, policyReviewWorkflow } from './policy-review-workflow.js';
import type { ConnectOptions } from './server-target.js';

/** The server name of a repository scaffolded without `--from-server`. */
export const EXAMPLE_SERVER = 'example';

/** Options of {@link scaffoldPolicyRepository}. */
export interface ScaffoldOptions extends ConnectOptions {
  /** The repository directory (absolute); created when missing. */
  readonly dir: string;
  /** A server to pull the catalog from (stdio command line or Streamable HTTP URL). */
  readonly fromServer?: string;
  /** The server's name, i.e. `policies/<name>/` (default: from the server, or `example`). */
  readonly serverName?: string;
  /** Replace files that exist with other content (default: refuse and write nothing). */
  readonly force?: boolean;
  /** The Tollgate GitHub Action the workflow uses, `owner/repo@ref` (see `defaultActionRef`). */
  readonly action: string;
  /** An npm package spec or tarball URL the action installs the CLI from (default: it builds the CLI of its own ref). */
  readonly cliPackage?: string;
  /** Told each step of the work as it starts (a progress display on a terminal). */
  readonly onProgress?: (step: string) => void;
}

/** The result of {@link scaffoldPolicyRepository}. */
export interface ScaffoldResult {
  /** The repository directory (absolute). */
  readonly dir: string;
  readonly server: string;
  /** Every file of the repository, in the order written, with what happened to it. */
  readonly files: readonly WrittenFile[];
  /** True when `git init` ran (the directory was not in a Git work tree yet). */
  readonly gitInitialized: boolean;
  /** The pulled catalog, with `--from-server`. */
  readonly pulled: Omit<CatalogPull, 'catalog' | 'text'> | null;
  /** How the starter policy treats each tool (empty without a server). */
  readonly plan: readonly StarterToolPlan[];
  /** What to do next, one command or sentence per line. */
  readonly nextSteps: readonly string[];
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The policy and tests of a repository made without a server: nothing allowed yet, and a test that shows it. */
function examplePolicy(server: string): { policy: Policy; tests: PolicyTestFile } {
  return {
    policy: {
      version: '1',
      description: `Policy for the MCP server "${server}". Nothing is allowed yet: pull the server's catalog with \`tollgate catalog pull\`, then list the tools agents may use under "tools".`,
      default: 'deny',
      tools: {},
    },
    tests: {
      policy: 'policy.json',
      cases: [{ name: 'a tool that is not listed is denied (default deny)', call: { tool: 'any_tool', args: {} }, expect: { effect: 'deny', rule: 'default' } }],
    },
  };
}

function readme(server: string, action: string): string {
  return `# Policy repository

The rules for what AI agents may do with MCP tools, enforced by the Tollgate gateway.
Every change goes through a pull request; the gateway enforces only what was reviewed and signed.

| Path | What it is |
| --- | --- |
| \`policies/${server}/policy.json\` | The policy for the MCP server \`${server}\` (Tollgate policy language, version "1"). |
| \`policies/${server}/${CATALOG_FILE_NAME}\` | A snapshot of the server's \`tools/list\`, with each tool's risk class. \`tollgate lint\` checks the policy against it. |
| \`policies/${server}/*.test.json\` | Policy tests: calls and the decision each must get. |
| \`${BUNDLE_PATH}\` | The signed bundle the gateway loads. Written by CI on every merge to main; never edit it by hand. |
| \`${POLICY_REVIEW_WORKFLOW_PATH}\` | The review workflow (below). |

## Working on the policies

\`\`\`sh
tollgate lint                     # schema and semantic checks, file:line:col
tollgate test --coverage          # run the *.test.json files
tollgate diff origin/main         # what your change allows or refuses that main did not
tollgate catalog pull "<server command or URL>" --name ${server}   # refresh the catalog
\`\`\`

## The review workflow

On every pull request, \`${POLICY_REVIEW_WORKFLOW_PATH}\` lints the policies (annotations on the
changed lines and a SARIF report for code scanning), runs the tests (JUnit report), and posts
\`tollgate diff\` as one pull-request comment that later pushes update (it carries the line
\`${DIFF_COMMENT_MARKER}\`). If a critical-risk tool becomes wider, the check fails until a reviewer
adds the label \`${WIDENING_LABEL}\`.

On every push to main that changes \`policies/\`, it builds \`${BUNDLE_PATH}\`, signs it with the
key in the \`TOLLGATE_SIGNING_KEY\` secret, and commits it with \`[skip ci]\`.

Both jobs are the Tollgate GitHub Action, pinned in the workflow (\`uses: ${action}\`): it
installs the \`tollgate\` CLI of that ref and runs the checks, so this repository needs no other
setup. To move to a newer Tollgate, change the ref in a pull request like any other change. The
action's inputs (policies path, coverage threshold, fail-on-widening level, …) are described in
the Tollgate repository's docs/policy-repository.md.

## Signing keys

The gateway trusts a bundle only when enough trusted keys signed it.

1. Make a key pair on a trusted machine (never in CI logs):

   \`\`\`sh
   tollgate keys generate --out tollgate-ci
   \`\`\`

   This writes \`tollgate-ci.key\` (the private key, mode 0600) and \`tollgate-ci.pub\`, and prints
   the key id. \`*.key\` is in \`.gitignore\`: never commit a private key.
2. Store the private key as the repository secret \`TOLLGATE_SIGNING_KEY\`
   (Settings → Secrets and variables → Actions, or
   \`gh secret set TOLLGATE_SIGNING_KEY < tollgate-ci.key\`), then delete the local copy or keep it offline.
3. Give the public key to the gateway: under \`policy.trust.keys\` in its configuration, with
   \`threshold\` the number of distinct keys that must sign. For a second signer, generate another
   key and run \`tollgate bundle sign ${BUNDLE_PATH} --key <their>.key\`.
4. Check a bundle as the gateway will:
   \`tollgate bundle verify ${BUNDLE_PATH} --trust tollgate-ci.pub\`.

To rotate a key: add the new public key to the gateway's trust list, replace the secret, let CI
sign a new bundle, then remove the old public key.
`;
}

const GITIGNORE = `# Private signing keys never go into Git.
*.key
# The gateway's and the CLI's local state (embedded ledger, policy cache).
.tollgate/
# Reports of the review workflow.
test-results/
tollgate-lint.sarif
tollgate-diff.md
`;

const BUNDLES_README = `# Signed policy bundles

\`bundle.json\` is built and signed by the review workflow on every merge to main
(\`tollgate bundle build\`, \`tollgate bundle sign\`) and read by the gateway
(\`policy.git.path\` in its configuration). Do not edit it by hand: a changed byte breaks its signature.
`;

/** Every file of a new policy repository for one server. */
export function policyRepositoryFiles(server: string, catalog: Catalog, policy: Policy, tests: PolicyTestFile, action: string, cliPackage?: string): PlannedFile[] {
  const dir = `policies/${server}`;
  return [
    { path: 'README.md', text: readme(server, action) },
    { path: '.gitignore', text: GITIGNORE },
    { path: POLICY_REVIEW_WORKFLOW_PATH, text: policyReviewWorkflow({ kind: 'remote', ref: action, ...(cliPackage !== undefined ? { cliPackage } : {}) }) },
    { path: 'bundles/README.md', text: BUNDLES_README },
    { path: `${dir}/${CATALOG_FILE_NAME}`, text: catalogText(catalog) },
    { path: `${dir}/policy.json`, text: json(policy) },
    { path: `${dir}/${server}.test.json`, text: json(tests) },
  ];
}

function pullSummary(pull: CatalogPull): Omit<CatalogPull, 'catalog' | 'text'> {
  return { server: pull.server, target: pull.target, serverInfo: pull.serverInfo, tools: pull.tools, changes: pull.changes };
}

async function directoryState(dir: string): Promise<'missing' | 'directory'> {
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new CliError('init.not-a-directory', `${dir}: exists and is not a directory`, { exit: ExitCode.input, hint: 'Pass a new or existing directory.' });
    return 'directory';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}

/**
 * `tollgate init`: scaffolds a policy repository in `dir` — `policies/<server>/` with a
 * catalog, a policy and tests, the review workflow, `bundles/`, a README with the key and
 * secret instructions, and a `.gitignore` — and runs `git init` when the directory is not in
 * a Git work tree. With `fromServer`, the catalog is pulled from the server and the policy
 * and tests are {@link starterPolicy}'s; without, an `example` server with an empty catalog
 * and a default-deny policy. Either way the result passes `tollgate lint` and `tollgate test`.
 *
 * The server is asked first, so an unreachable one leaves no trace; then every file is
 * written all or nothing ({@link writeFileSet}): files already present with the same content
 * are kept, with other content they are refused unless `force`.
 *
 * @throws CliError exit 2: `server.unreachable`, `init.conflict`, `output.unwritable`, `git.failed`, ….
 */
export async function scaffoldPolicyRepository(options: ScaffoldOptions): Promise<ScaffoldResult> {
  const dir = resolve(options.dir);
  const before = await directoryState(dir);
  let pulled: CatalogPull | null = null;
  let server: string;
  let catalog: Catalog;
  let policy: Policy;
  let tests: PolicyTestFile;
  let plan: readonly StarterToolPlan[] = [];
  if (options.fromServer !== undefined) {
    pulled = await pullCatalog(options.fromServer, { ...options, ...(options.serverName !== undefined ? { name: options.serverName } : {}) });
    server = pulled.server;
    catalog = pulled.catalog;
    const starter = starterPolicy(catalog, { server });
    ({ policy, tests, plan } = starter);
  } else {
    server = options.serverName ?? EXAMPLE_SERVER;
    catalog = buildCatalog(server, []);
    ({ policy, tests } = examplePolicy(server));
  }

  options.onProgress?.(`writing the policy repository in ${options.dir}`);
  const files = policyRepositoryFiles(server, catalog, policy, tests, options.action, options.cliPackage);
  let written: WrittenFile[];
  try {
    await mkdir(dir, { recursive: true });
    written = await writeFileSet(dir, files, { overwrite: options.force === true });
  } catch (error) {
    if (before === 'missing') await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }

  let gitInitialized = false;
  try {
    const git = gitClient(dir);
    if (!(await git.checkIsRepo())) {
      options.onProgress?.('git init');
      await git.init(['--initial-branch=main']);
      gitInitialized = true;
    }
  } catch (error) {
    throw new CliError('git.failed', `${dir}: the files were written, but git init failed: ${(error as Error).message}`, { exit: ExitCode.input, hint: 'Install git, or run `git init` in the directory yourself.', cause: error });
  }

  const shown = options.dir;
  const nextSteps = [
    `cd ${shown}`,
    'tollgate lint && tollgate test',
    ...(pulled ? [] : [`tollgate catalog pull "<server command or URL>" --name ${server}   # then list tools in policies/${server}/policy.json`]),
    'tollgate keys generate --out tollgate-ci   # store tollgate-ci.key as the TOLLGATE_SIGNING_KEY secret (README.md)',
    `git add . && git commit -m "Policies for ${server}"`,
  ];
  return { dir, server, files: written, gitInitialized, pulled: pulled ? pullSummary(pulled) : null, plan, nextSteps };
}
