#!/usr/bin/env node
'use strict';
// `npx resplay …`: runs the binary this package found or built.
const { spawnSync } = require('node:child_process');
const { findBinary, ResplayError } = require('../server');

let binary;
try {
  binary = findBinary();
} catch (e) {
  if (e instanceof ResplayError) {
    process.stderr.write(`resplay: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
const result = spawnSync(binary, process.argv.slice(2), { stdio: 'inherit' });
if (result.error) {
  process.stderr.write(`resplay: cannot run ${binary}: ${result.error.message}\n`);
  process.exit(1);
}
process.exit(result.status === null ? 1 : result.status);
