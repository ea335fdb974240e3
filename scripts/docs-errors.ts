import { writeFileSync } from 'node:fs';
import { renderErrorCatalogue } from '../src/errors/error-catalogue.ts';

// `npm run docs:errors`: writes docs/errors.md from the error table.

const file = new URL('../docs/errors.md', import.meta.url);
writeFileSync(file, renderErrorCatalogue());
process.stdout.write(`wrote ${file.pathname}\n`);
