// An ioredis program that a running resplay is switched under, from record
// to replay, by the program itself through the control API
// (tests/steering_clients.rs).
//
//     node steer_switch.js reset|keep
//
// Environment: REDIS_PORT (resplay's listener), RESPLAY_ADMIN (its control
// API). It does some work while resplay records, switches resplay to replay,
// says `switched` and waits for `go` on stdin (the test kills redis-server in
// between), then does the same work again, now answered from the cassette.
//
// - reset: the switch closes the connection; ioredis reconnects by itself
//   (its 'reconnecting' event fires).
// - keep (`--keep-connections`): the connections carry over: 'reconnecting'
//   never fires, the database (db 2) is kept and a subscriber keeps its
//   channel and pattern subscriptions. (ioredis speaks RESP2 only.)
"use strict";

const readline = require("readline");
const Redis = require("ioredis");

const port = Number(process.env.REDIS_PORT);
const admin = process.env.RESPLAY_ADMIN;
const mode = process.argv[2];
if (mode !== "reset" && mode !== "keep") throw new Error(`mode ${mode}`);

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function say(tag, value) {
  const sorted = value === undefined ? "" : " " + JSON.stringify(value);
  process.stdout.write(`${tag}${sorted}\n`);
}

async function waitFor(word) {
  const { value } = await lines.next();
  if ((value || "").trim() !== word) throw new Error(`expected ${word} on stdin, got ${value}`);
}

async function api(method, path, body) {
  const answer = await fetch(`http://${admin}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await answer.json();
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${JSON.stringify(json)}`);
  return json;
}

async function work(r) {
  const out = [];
  await r.set("steer:greeting", "hello");
  out.push(["get", await r.get("steer:greeting")]);
  out.push(["incr", await r.incr("steer:counter"), await r.incr("steer:counter")]);
  await r.hset("steer:user", { name: "Ada", lang: "JavaScript" });
  const user = await r.hgetall("steer:user");
  out.push(["hgetall", Object.keys(user).sort().map((k) => [k, user[k]])]);
  await r.rpush("steer:list", "a", "b", "c");
  out.push(["lrange", await r.lrange("steer:list", 0, -1)]);
  const multi = await r.multi().incr("steer:counter").get("steer:greeting").exec();
  out.push(["multi", multi.map(([err, v]) => (err ? String(err) : v))]);
  out.push(["missing", await r.get("steer:missing")]);
  return out;
}

const reconnecting = {};
function client(name, options) {
  const r = new Redis({ port, lazyConnect: false, ...options });
  reconnecting[name] = 0;
  r.on("reconnecting", () => {
    reconnecting[name] += 1;
  });
  r.on("error", () => {});
  return r;
}

async function reset() {
  const r = client("main", { retryStrategy: () => 50, maxRetriesPerRequest: 20 });
  say("work", await work(r));
  say("switch", await api("POST", "/mode", { mode: "replay" }));
  await waitFor("go");
  say("work", await work(r));
  say("reconnecting", reconnecting);
  r.disconnect();
}

async function keep() {
  // No reconnecting: a dropped connection fails the program.
  const never = { retryStrategy: () => null, maxRetriesPerRequest: 0 };
  const r0 = client("db0", never);
  await r0.set("steer:where", "db0");
  await r0.get("steer:where");
  await r0.quit();
  const r = client("main", { ...never, db: 2 });
  const sub = client("sub", never);
  const got = [];
  sub.on("message", (channel, message) => got.push(["message", null, channel, message]));
  sub.on("pmessage", (pattern, channel, message) =>
    got.push(["pmessage", pattern, channel, message]),
  );
  await sub.subscribe("steer.plain");
  await sub.psubscribe("steer.*");
  await r.set("steer:where", "db2");
  const until = async (n) => {
    const deadline = Date.now() + 10000;
    while (got.length < n && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 20));
    return got.splice(0, got.length);
  };

  say("work", await work(r));
  say("state", [await r.get("steer:where")]);
  await r.publish("steer.plain", "before");
  say("before", await until(2));
  say("switch", await api("POST", "/mode", { mode: "replay" }));
  await waitFor("go");
  say("work", await work(r));
  say("state", [await r.get("steer:where")]);
  say("reconnecting", reconnecting);
  say("subscribed");
  await waitFor("published");
  say("after", await until(2));
  say("reconnecting", reconnecting);
  r.disconnect();
  sub.disconnect();
}

(mode === "reset" ? reset() : keep())
  .then(() => {
    say("done");
    process.exit(0);
  })
  .catch((e) => {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  });
