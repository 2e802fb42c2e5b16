'use strict';
// Jest `globalSetup`: one resplay process per Jest worker for the whole run,
// so no test pays for a process start. Workers find theirs through
// RESPLAY_ADMIN_<JEST_WORKER_ID> / RESPLAY_URL_<JEST_WORKER_ID>.
const { startShared } = require('./shared');

module.exports = async function globalSetup(globalConfig) {
  const workers = globalConfig && globalConfig.maxWorkers ? globalConfig.maxWorkers : 1;
  globalThis.__RESPLAY_SERVERS__ = await startShared(workers);
};
