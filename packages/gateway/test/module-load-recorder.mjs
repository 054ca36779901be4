// `node --import ./module-load-recorder.mjs …`: records every module the process resolves in the
// file named by TOLLGATE_TEST_MODULE_LOG (see module-load-hooks.mjs).
import { register } from 'node:module';

const file = process.env.TOLLGATE_TEST_MODULE_LOG;
if (!file) throw new Error('module-load-recorder.mjs needs TOLLGATE_TEST_MODULE_LOG');
register('./module-load-hooks.mjs', import.meta.url, { data: { file } });
