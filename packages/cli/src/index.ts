export { CliError, ExitCode } from './cli-error.js';
