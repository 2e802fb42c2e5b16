// An ioredis subscriber for messages published through resplay's control
// API (tests/steering_clients.rs), in record or replay mode. ioredis speaks
// RESP2 only (it has no RESP3 support), so RESP3 is covered by redis-py.
//
// Environment: REDIS_PORT (resplay's listener). It subscribes to `news.tech`
// and to the pattern `news.*`, says `ready`, waits for `published` on stdin,
// then prints what it received as a JSON line.
"use strict";

const readline = require("readline");
const Redis = require("ioredis");

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function main() {
  const sub = new Redis({ port: Number(process.env.REDIS_PORT) });
  const got = [];
  sub.on("message", (channel, message) => got.push(["message", null, channel, message]));
  sub.on("pmessage", (pattern, channel, message) => got.push(["pmessage", pattern, channel, message]));
  await sub.subscribe("news.tech");
  await sub.psubscribe("news.*");
  process.stdout.write("ready\n");
  const { value } = await lines.next();
  if ((value || "").trim() !== "published") throw new Error(`stdin: ${value}`);
  const deadline = Date.now() + 10000;
  while (got.length < 3 && Date.now() < deadline) await sleep(20);
  await sleep(300); // nothing more comes
  process.stdout.write(`resp2 ${JSON.stringify(got)}\n`);
  sub.disconnect();
  process.stdout.write("done\n");
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  },
);
