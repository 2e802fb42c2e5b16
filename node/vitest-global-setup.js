'use strict';
// Vitest `globalSetup`: one resplay process per Vitest worker for the whole
// run (RESPLAY_WORKERS of them, default: the machine's parallelism), found by
// RESPLAY_ADMIN_<VITEST_POOL_ID> / RESPLAY_URL_<VITEST_POOL_ID>.
const os = require('node:os');
const { startShared, stopShared } = require('./shared');

let servers = [];

module.exports = {
  async setup() {
    const fallback = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    servers = await startShared(Number(process.env.RESPLAY_WORKERS) || fallback);
  },
  async teardown() {
    await stopShared(servers);
  },
};
