// `node --import ./test/helpers/trace-imports.mjs …` appends every module URL the process
// resolves to the file named by MONGO_TAIL_TRACE_IMPORTS (one per line): tests use it to check
// what a command loads (e.g. that `--version` never loads the driver).
import { register } from 'node:module';

register('./trace-imports-hook.mjs', import.meta.url, {
  data: { file: process.env.MONGO_TAIL_TRACE_IMPORTS },
});
