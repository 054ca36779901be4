// Module hooks for the tests (registered by module-load-recorder.mjs): appends the URL of every
// module a process resolves to the file the recorder names, so a test can tell which packages
// a gateway process loaded.
import { appendFileSync } from 'node:fs';

let file;

export async function initialize(data) {
  file = data.file;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (file) appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
