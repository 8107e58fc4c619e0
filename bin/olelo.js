#!/usr/bin/env node
import('../dist/src/cli/main.js')
  .then((m) => m.main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
      console.error('olelo is not built yet: run `npm install` (or `npm run build`) first.');
    } else {
      console.error(err);
    }
    process.exitCode = 1;
  });
