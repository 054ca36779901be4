/**
 * The bundle verifier thread's entry (see {@link BundleCheckThread}): verifies each bundle
 * text it is sent with `verifyBundleText` — parse, signatures, hashes, expiry, rollback,
 * schema, compile, the bundle's own tests — and answers with a plain-data verdict.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type * as Policy from '@tollgate/policy';
import { factsOf } from './bundle-facts.js';
import type { BundleCheckJob, BundleCheckReply, BundleCheckVerdict, BundleCheckWorkerData, CheckedPolicyValue } from './git-bundle-check-thread.js';

if (isMainThread || !parentPort) throw new Error('git-bundle-check-worker runs as a worker thread of the gateway');
const port = parentPort;
const { policyModule } = workerData as BundleCheckWorkerData;
const { verifyBundleText } = (await import(policyModule)) as typeof Policy;

function check(job: BundleCheckJob): BundleCheckVerdict {
  const { file, ...options } = job.request;
  const result = verifyBundleText(job.text, options, file);
  if (!result.ok) return { ok: false, refusal: result.refusal };
  const policies: CheckedPolicyValue[] = [];
  for (const [path, entry] of Object.entries(result.bundle.manifest.files)) {
    const compiled = entry.kind === 'policy' ? result.policies.get(entry.server) : undefined;
    if (compiled) policies.push({ server: entry.server, path, value: result.bundle.files[path], digest: compiled.digest });
  }
  return { ok: true, ...factsOf(result), testSummary: result.testSummary, policies };
}

port.on('message', (job: BundleCheckJob) => {
  let reply: BundleCheckReply;
  try {
    reply = { id: job.id, verdict: check(job) };
  } catch (error) {
    reply = { id: job.id, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
