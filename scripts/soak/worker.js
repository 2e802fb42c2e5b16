// The soak's ioredis workload (scripts/soak.sh): concurrent sessions that
// each open a named connection (ioredis's connectionName sends CLIENT
// SETNAME first), run plain commands, pipelines, MULTI/EXEC, EVAL and BLPOP
// with a timeout, and close; one JSON line per connection in the
// client-side log. No retries, no offline queue: a command either gets a
// reply, an error, or times out (a hang, logged as one).
//
// Usage: node worker.js PORT LOG SECONDS SESSIONS PREFIX
'use strict';
const fs = require('fs');
const path = require('path');
const Redis = require(path.join(__dirname, '../../tests/clients/node/node_modules/ioredis'));

const [port, logPath, seconds, sessions, prefix] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
const TIMEOUT = 15000;
const log = fs.openSync(logPath, 'a');
let counter = 0;
const LUA = "local v = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 600) return v";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (n) => Math.floor(Math.random() * n);

function value(reply) {
  if (Buffer.isBuffer(reply)) return reply.toString();
  if (Array.isArray(reply)) return reply.map(value);
  if (reply === undefined) return null;
  return reply;
}

function outcomeOf(err) {
  if (/timed out/i.test(err.message)) return 'hang';
  if (err.name === 'ReplyError') return 'error';
  return 'closed';
}

async function session() {
  const name = `${prefix}-s-${++counter}`;
  const opened = Date.now() / 1000;
  const exchanges = [];
  const logged = (cmd, outcome, reply) =>
    exchanges.push({ cmd: cmd.map(String), outcome, reply: value(reply), t: Date.now() / 1000 });
  const redis = new Redis({
    port: Number(port),
    connectionName: name,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    autoResubscribe: false,
    commandTimeout: TIMEOUT,
    connectTimeout: TIMEOUT,
  });
  redis.on('error', () => {});
  let broken = false;
  const call = async (...cmd) => {
    if (broken) return null;
    try {
      const reply = await redis.call(...cmd);
      logged(cmd, 'ok', reply);
      return reply;
    } catch (err) {
      const outcome = outcomeOf(err);
      logged(cmd, outcome, err.message);
      if (outcome !== 'error') broken = true;
      return null;
    }
  };
  const batch = async (cmds, transaction) => {
    if (broken) return;
    const pipe = transaction ? redis.multi() : redis.pipeline();
    for (const cmd of cmds) pipe.call(...cmd);
    let results;
    try {
      results = await pipe.exec();
    } catch (err) {
      const outcome = outcomeOf(err);
      for (const cmd of cmds) logged(cmd, outcome, err.message);
      if (outcome !== 'error') broken = true;
      return;
    }
    if (results === null) {
      for (const cmd of cmds) logged(cmd, 'error', 'EXEC aborted');
      return;
    }
    if (transaction) {
      if (results.some(([err]) => err)) {
        // ioredis reports a failed transaction on each command.
        for (const cmd of cmds) logged(cmd, 'error', 'transaction failed');
        broken = results.some(([err]) => err && outcomeOf(err) !== 'error');
        return;
      }
      logged(['MULTI'], 'ok', 'OK');
      for (const cmd of cmds) logged(cmd, 'ok', 'QUEUED');
      logged(['EXEC'], 'ok', results.map(([, r]) => r));
    } else {
      results.forEach(([err, reply], i) => {
        if (err) {
          const outcome = outcomeOf(err);
          logged(cmds[i], outcome, err.message);
          if (outcome !== 'error') broken = true;
        } else logged(cmds[i], 'ok', reply);
      });
    }
  };
  try {
    await redis.connect();
  } catch (err) {
    broken = true;
  }
  const key = `soak:${name}`;
  const ops = 5 + rand(35);
  for (let i = 0; i < ops && !broken && Date.now() < deadline; i++) {
    const op = Math.random();
    if (op < 0.35) {
      await call('SET', key, String(rand(1 << 30)));
      await call('GET', key);
      await call('INCR', `soak:counter:${rand(10)}`);
    } else if (op < 0.55) {
      const n = 2 + rand(29);
      const cmds = [];
      for (let j = 0; j < n; j++) cmds.push(['RPUSH', `${key}:list`, String(j)]);
      cmds.push(['LRANGE', `${key}:list`, '0', '-1']);
      await batch(cmds, false);
    } else if (op < 0.7) {
      await batch([['INCR', `${key}:n`], ['HSET', `${key}:h`, 'f', 'v'], ['HGETALL', `${key}:h`]], true);
    } else if (op < 0.8) {
      await call('EVAL', LUA, '1', `soak:lua:${rand(10)}`);
    } else if (op < 0.9) {
      const q = `soak:queue:${rand(5)}`;
      if (Math.random() < 0.5) await call('LPUSH', q, name);
      else await call('BLPOP', q, '1');
    } else {
      await call('PUBLISH', `soak:chan:${rand(4)}`, `from ${name}`);
    }
    await call('DEL', key, `${key}:list`, `${key}:n`, `${key}:h`);
    await sleep(rand(200));
  }
  redis.disconnect();
  fs.writeSync(
    log,
    JSON.stringify({ name, lib: 'ioredis', opened, closed: Date.now() / 1000, exchanges, setname_by_client: true }) +
      '\n',
  );
}

async function steady() {
  while (Date.now() < deadline) {
    try {
      await session();
    } catch (err) {
      console.error(`worker.js: ${err.stack}`);
      await sleep(100);
    }
  }
}

Promise.all(Array.from({ length: Number(sessions) }, steady)).then(() => process.exit(0));
