'use strict';
/**
 * Lets plain `node` load our TypeScript sources: `node -r ./test/helpers/ts-register.js x.js`, or
 * `require('./test/helpers/ts-register')` first thing in a child-process script. Each `.ts` file
 * is transpiled on require with TypeScript's transpileModule (CommonJS, no type check: tsc does
 * that in `npm test`). Used by crash tests that SIGKILL a real child process, and by scripts/.
 */
const fs = require('node:fs');
const ts = require('typescript');

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  resolveJsonModule: true,
  inlineSourceMap: true,
};

if (!require.extensions['.ts']) {
  require.extensions['.ts'] = function compileTypeScript(module, filename) {
    const source = fs.readFileSync(filename, 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
    module._compile(outputText, filename);
  };
}
