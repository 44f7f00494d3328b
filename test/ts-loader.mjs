// A module-customisation hook that strips TypeScript types with @swc/core (already a dev
// dependency for jest). Relative imports are written with `.js` as NodeNext requires; when
// that file does not exist, the `.ts` beside it is loaded instead.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transformSync } from '@swc/core';

export async function resolve(specifier, context, next) {
  if ((specifier.startsWith('.') || specifier.startsWith('/')) && specifier.endsWith('.js')) {
    const url = new URL(specifier, context.parentURL);
    if (!existsSync(fileURLToPath(url))) {
      const ts = url.href.replace(/\.js$/, '.ts');
      if (existsSync(fileURLToPath(ts))) return next(ts, context);
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const source = await next(url, { ...context, format: 'module' });
  const { code } = transformSync(String(source.source), {
    filename: fileURLToPath(url),
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  });
  return { format: 'module', source: code, shortCircuit: true };
}
