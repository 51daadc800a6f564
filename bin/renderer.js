#!/usr/bin/env node
// The `renderer` executable: the compiled CLI in dist/ (npm run build makes it).
import { main } from '../dist/bundle/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`renderer: internal error: ${error?.stack ?? error}\n`);
    process.exitCode = 70;
  },
);
