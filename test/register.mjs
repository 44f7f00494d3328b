// Lets plain `node --import ./test/register.mjs file.ts` run the project's TypeScript
// (the test server, scripts) without a build step: see test/ts-loader.mjs.
import { register } from 'node:module';

register('./ts-loader.mjs', import.meta.url);
