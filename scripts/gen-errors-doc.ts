// Regenerates docs/errors.md from the error-code registry (src/errors/codes/*.ts).
// `npm run docs:errors`; test/errors/errors-doc.test.ts fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { renderErrorsDoc } from '../src/errors/renderErrorsDoc.js';

writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
console.log('docs/errors.md written');
