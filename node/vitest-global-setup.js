'use strict';
// Vitest `globalSetup`: one resplay process per Vitest worker for the whole
// run (RESPLAY_WORKERS of them, default: the machine's parallelism), found by
// RESPLAY_ADMIN_<VITEST_POOL_ID> / RESPLAY_URL_<VITEST_POOL_ID>. Vitest calls
// the default export and the function it returns at the end.
const os = require('node:os');
const { startShared, stopShared } = require('./shared');

module.exports = async function setup() {
  const fallback = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const servers = await startShared(Number(process.env.RESPLAY_WORKERS) || fallback);
  return async function teardown() {
    await stopShared(servers);
  };
};
