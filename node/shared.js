'use strict';
// Session-wide servers for the global setups: one per worker, published in
// the environment the workers inherit.
const { Server, findBinary } = require('./server');

async function startShared(count) {
  const upstream = process.env.RESPLAY_UPSTREAM || process.env.REDIS_URL || null;
  const binary = findBinary();
  const servers = [];
  for (let id = 1; id <= count; id++) {
    const server = await new Server({ upstream, binary }).start();
    process.env[`RESPLAY_ADMIN_${id}`] = server.admin;
    process.env[`RESPLAY_URL_${id}`] = server.url;
    servers.push(server);
  }
  if (upstream) process.env.RESPLAY_SESSION_UPSTREAM = upstream;
  return servers;
}

async function stopShared(servers) {
  await Promise.all(servers.map((s) => s.stop()));
}

module.exports = { startShared, stopShared };
