/**
 * Where the Git policy source reads the committed bundle from (DESIGN §4, `policy.git`).
 * Implementations: `GitLocalBundleReader` (a repository on this machine, read in place and
 * watched) and `GitRemoteBundleReader` (a URL, mirrored into the state directory and fetched).
 */
export interface GitBundleReader {
  /** Where the bundle is read, for messages and the admin API: `<repo>@<ref>:<path>`. */
  readonly location: string;
  /**
   * The commit `ref` points at now (a remote is fetched first).
   * @throws GatewayError `policy.unavailable` naming the repository and what git said.
   */
  resolve(): Promise<string>;
  /**
   * The bundle's bytes at `commit`.
   * @throws GatewayError `policy.unavailable` when the file is not in that commit.
   */
  read(commit: string): Promise<string>;
  /**
   * Calls `onChange` whenever the repository's refs may have moved (a commit, a push, a
   * branch reset), so a new bundle is seen without waiting for the poll. Only local
   * repositories can be watched; returns a function that stops watching.
   */
  watch?(onChange: () => void): Promise<() => void>;
  /** Stops whatever the reader runs. */
  close(): Promise<void>;
}
