/**
 * Exit codes shared by every command (DESIGN §3): 0 success, 1 findings or failures,
 * 2 a usage or input error (a malformed file, a bad flag, an unreachable database).
 */
export const ExitCode = { ok: 0, findings: 1, input: 2 } as const;

/**
 * The CLI's one error type. `code` is stable and machine-readable; `exit` is the process
 * exit status; `hint` tells the user how to fix it. Commands throw it (or let a package's
 * coded error be wrapped into it) and oclif prints `message` and exits with `exit`.
 */
export class CliError extends Error {
  readonly code: string;
  readonly exit: number;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { exit?: number; hint?: string; cause?: unknown } = {}) {
    super(options.hint ? `${message}\n${options.hint}` : message, { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
    this.exit = options.exit ?? ExitCode.input;
    this.hint = options.hint;
  }
}
