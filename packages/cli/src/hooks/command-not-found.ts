import { Errors, loadHelpClass, toConfiguredId, type Hook } from '@oclif/core';
import { CliError, ExitCode } from '../cli-error.js';

const LIST_HINT = (bin: string): string => `Run \`${bin} --help\` for the list of commands, or \`${bin} <command> --help\` for one.`;

/**
 * oclif's `command_not_found` hook: `tollgate lnt` is a usage error (exit 2, code
 * `command.unknown`) that names the closest command — `"lnt" is not a tollgate command; did
 * you mean "lint"?` — in the CLI's own error format (and as JSON with `--json`). On an
 * interactive terminal it hands over to @oclif/plugin-not-found, which asks whether to run
 * the suggestion instead; declining ends with the same error. A flag given where a command
 * belongs (`tollgate --verison`) is named as an unknown flag.
 */
const commandNotFound: Hook<'command_not_found'> = async function (options) {
  const { config, id, argv = [] } = options;
  const { closestName } = await import('@tollgate/policy');
  const typed = toConfiguredId(id, config);
  if (id.startsWith('-')) {
    const flag = closestName(id, ['--help', '--version']);
    throw new CliError('usage', `unknown flag ${id} before a command${flag ? `; did you mean ${flag}?` : ''}`, {
      exit: ExitCode.input,
      hint: `Flags go after the command, as in \`${config.bin} lint --format github\`. ${LIST_HINT(config.bin)}`,
    });
  }
  const hidden = new Set(config.commands.filter((c) => c.hidden).map((c) => c.id));
  const ids = [...config.commandIDs, ...config.commands.flatMap((c) => c.aliases)].filter((c) => !hidden.has(c));
  // `tollgate help lnt` asks for help on a command: suggest among the commands after "help".
  const wantsHelp = id === 'help' || id.startsWith('help:');
  const asked = wantsHelp ? id.split(':').slice(1).join(':') : id;
  if (wantsHelp && (asked === '' || config.findCommand(asked) || config.findTopic(asked))) {
    // `tollgate help [command]` is `tollgate [command] --help`.
    const Help = await loadHelpClass(config);
    await new Help(config, config.pjson.oclif.helpOptions ?? config.pjson.helpOptions).showHelp([...(asked === '' ? [] : asked.split(':')), ...argv]);
    return undefined;
  }
  const suggestion = asked === '' ? undefined : closestName(asked, ids) ?? closestName(asked, [...config.topics.map((t) => t.name)]);
  const shown = suggestion === undefined ? undefined : toConfiguredId(suggestion, config);
  const notFound = (): CliError =>
    new CliError(
      'command.unknown',
      `"${wantsHelp ? toConfiguredId(asked, config) : typed}" is not a ${config.bin} command${suggestion ? `; did you mean "${wantsHelp ? `${config.bin} help ${toConfiguredId(suggestion, config)}` : shown}"?` : ''}`,
      { exit: ExitCode.input, hint: LIST_HINT(config.bin) },
    );
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true && !argv.includes('--json');
  if (!interactive || suggestion === undefined || wantsHelp) throw notFound();
  // The plugin asks "Did you mean …?" and runs the suggestion when the user says yes; its own
  // refusal (a warning and exit 127) becomes our usage error.
  const { default: pluginHook } = await import('@oclif/plugin-not-found');
  const context = {
    config,
    debug: () => undefined,
    log: (message?: string) => process.stdout.write(`${message ?? ''}\n`),
    warn: () => undefined,
    exit: (code?: number) => {
      throw new Errors.ExitError(code ?? ExitCode.input);
    },
    error: () => {
      throw notFound();
    },
  };
  return (pluginHook as unknown as (this: typeof context, o: typeof options) => Promise<unknown>).call(context, options);
};

export default commandNotFound;
