#!/usr/bin/env node
import { execute, settings } from '@oclif/core';

// This entry point always runs the compiled commands in dist/: oclif would otherwise try to
// load src/*.ts through a TypeScript loader whenever NODE_ENV is "development" or "test".
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });
