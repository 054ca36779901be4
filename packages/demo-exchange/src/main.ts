#!/usr/bin/env node
// The demo exchange executable: `node packages/demo-exchange/dist/main.js [--stdio | --http --port N]`.
import { DEMO_EXCHANGE_USAGE, parseDemoExchangeArguments, runDemoExchange } from './demo-exchange-cli.js';
import type { DemoExchangeCommand } from './demo-exchange-cli.js';

let command: DemoExchangeCommand;
try {
  command = parseDemoExchangeArguments(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`demo-exchange: ${error instanceof Error ? error.message : String(error)}\n\n${DEMO_EXCHANGE_USAGE}`);
  process.exit(2);
}

if (command.help) {
  process.stdout.write(DEMO_EXCHANGE_USAGE);
} else {
  try {
    const running = await runDemoExchange(command);
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      running.close().then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`demo-exchange: error while shutting down: ${error instanceof Error ? error.message : String(error)}\n`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // A stdio server whose client went away has nothing left to do.
    if (command.mode === 'stdio') process.stdin.once('end', stop);
    // One line at start-up, once the signals are handled (a signal sent on seeing it must not
    // find the default action); nothing per call, so the process adds no logging cost to benchmarks.
    process.stderr.write(`demo-exchange ${running.description}\n`);
  } catch (error) {
    process.stderr.write(`demo-exchange: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
