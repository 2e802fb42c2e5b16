'use strict';
// Jest `globalTeardown`: stops what jest-global-setup.js started.
const { stopShared } = require('./shared');

module.exports = async function globalTeardown() {
  await stopShared(globalThis.__RESPLAY_SERVERS__ || []);
};
