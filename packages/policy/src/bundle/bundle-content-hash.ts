import { canonicalJson, sha256Hex } from '../canonical-json.js';
import type { PolicyBundle } from './bundle-format.js';

/** The result of {@link checkBundleHashes}. */
export interface BundleHashCheck {
  /** What does not match, naming the file; undefined when every file matches its manifest entry. */
  readonly problem: string | undefined;
  /** Each file's canonical JSON text, computed once while hashing. */
  readonly canonicalTexts: ReadonlyMap<string, string>;
}

/**
 * Checks that the bundle holds exactly the files its manifest lists and that each one's
 * canonical JSON has the manifest's SHA-256. Each file is serialised and hashed once.
 */
export function checkBundleHashes(bundle: PolicyBundle): BundleHashCheck {
  const canonicalTexts = new Map<string, string>();
  const listed = bundle.manifest.files;
  for (const path of Object.keys(bundle.files)) {
    if (!Object.hasOwn(listed, path)) {
      return { problem: `${path} is in the bundle but not in its manifest, so no signature covers it`, canonicalTexts };
    }
  }
  for (const [path, entry] of Object.entries(listed)) {
    if (!Object.hasOwn(bundle.files, path)) return { problem: `${path} is listed in the manifest but missing from the bundle's files`, canonicalTexts };
    let text: string;
    try {
      text = canonicalJson(bundle.files[path]);
    } catch (error) {
      return { problem: `${path} cannot be serialised as JSON (${(error as Error).message})`, canonicalTexts };
    }
    const actual = sha256Hex(text);
    if (actual !== entry.sha256) {
      return { problem: `${path} has SHA-256 ${actual}, but the manifest says ${entry.sha256}: the file was changed after the bundle was built`, canonicalTexts };
    }
    canonicalTexts.set(path, text);
  }
  return { problem: undefined, canonicalTexts };
}
