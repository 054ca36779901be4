#!/usr/bin/env node
// The repository's entry point: the commands compiled by tsc into dist/ (the standalone build,
// dist/standalone/bin/tollgate.js, runs the same code from its bundle).
import { runTollgate } from '../dist/cli-main.js';

await runTollgate(import.meta.url);
