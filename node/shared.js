'use strict';
// Session-wide servers for the global setups: one per worker, published in
// the environment the workers inherit.
const { Server, findBinary, journalMaxFromEnv } = require('./server');

async function startShared(count) {
  const upstream = process.env.RESPLAY_UPSTREAM || process.env.REDIS_URL || null;
  const binary = findBinary();
  const journalMax = journalMaxFromEnv();
  const servers = [];
  for (let id = 1; id <= count; id++) {
    const server = await new Server({ upstream, binary, journalMax }).start();
    process.env[`RESPLAY_ADMIN_${id}`] = server.admin;
    process.env[`RESPLAY_URL_${id}`] = server.url;
    process.env[`RESPLAY_JOURNAL_MAX_${id}`] = String(journalMax);
    servers.push(server);
  }
  if (upstream) process.env.RESPLAY_SESSION_UPSTREAM = upstream;
  return servers;
}

async function stopShared(servers) {
  await Promise.all(servers.map((s) => s.stop()));
}

module.exports = { startShared, stopShared };
