// Replay as real clients use it (issue 23): ioredis scenarios for
// tests/replay_as_used.rs.
//
// Each scenario is something applications do every day and that a replay
// must survive: a lock token the client makes up, idempotency keys, a
// connection killed from elsewhere, AUTH with good and bad passwords.
//
// The test records a run against a real Redis, stops Redis, then replays
// the same run. So every scenario checks, on the client side, what a real
// Redis would give: the same program passes while recording and must pass
// again on replay. It prints a PASS or FAIL line per check and exits
// non-zero when a scenario fails.
//
// Usage: node replay_as_used.js SCENARIO   (REDIS_URL names the server)
const crypto = require("crypto");
const Redis = require("ioredis");

const URL = process.env.REDIS_URL;
const failures = [];

function check(name, ok, detail = "") {
  console.log((ok ? "PASS " : "FAIL ") + name + (ok ? "" : ": " + detail));
  if (!ok) failures.push(name);
}

// A client of its own that neither retries nor reconnects: a failure must
// show at once.
function client(options = {}) {
  return new Redis(URL, {
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    commandTimeout: 10000,
    ...options,
  });
}

// Settles to the reply, or to the error's message prefixed with "error: ".
async function reply(promise) {
  try {
    return await promise;
  } catch (e) {
    return "error: " + e.message;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const COMPARE_AND_DELETE = `
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
else
  return 0
end`;

// SET foo <randomUUID> NX PX 10000; GET foo is the token; a
// compare-and-delete script with the token deletes it.
async function lock() {
  const r = client();
  const token = crypto.randomUUID();
  const set = await reply(r.set("foo", token, "NX", "PX", 10000));
  check("lock: SET NX PX", set === "OK", JSON.stringify(set));
  const got = await reply(r.get("foo"));
  check("lock: GET foo is the live token", got === token, `${got} != ${token}`);
  const del = await reply(r.eval(COMPARE_AND_DELETE, 1, "foo", token));
  check("lock: compare-and-delete", del === 1, JSON.stringify(del));
  const after = await reply(r.get("foo"));
  check("lock: released", after === null, JSON.stringify(after));
  await r.quit();
}

// A uuid in both forms in keys and a hash field, a 40-hex token and base64
// of 16 random bytes as values: each read back as sent.
async function idempotency() {
  const r = client();
  const u = crypto.randomUUID();
  for (const form of [u.replace(/-/g, ""), u]) {
    const key = `req:${form}`;
    const set = await reply(r.set(key, "v"));
    check(`idempotency: SET ${key}`, set === "OK", JSON.stringify(set));
    const got = await reply(r.get(key));
    check(`idempotency: GET ${key}`, got === "v", JSON.stringify(got));
  }
  await reply(r.hset("job", u, "x"));
  const job = await reply(r.hgetall("job"));
  check("idempotency: HGETALL job holds the live uuid", JSON.stringify(job) === JSON.stringify({ [u]: "x" }), JSON.stringify(job));
  const tok = crypto.randomBytes(20).toString("hex");
  await reply(r.set("token", tok));
  const got = await reply(r.get("token"));
  check("idempotency: 40-hex token read back", got === tok, `${got} != ${tok}`);
  const blob = crypto.randomBytes(16).toString("base64");
  await reply(r.set("blob", blob));
  const back = await reply(r.get("blob"));
  check("idempotency: base64 value read back", back === blob, `${back} != ${blob}`);
  await r.quit();
}

// B reads its own CLIENT ID and idles (still open); then A kills it by id,
// and B must see its connection close ('end': it does not reconnect).
async function clientKill() {
  const a = client();
  const b = client();
  let endedAt = null;
  b.on("end", () => {
    endedAt = Date.now();
  });
  const bId = await reply(b.client("ID"));
  check("client_kill: CLIENT ID", Number.isInteger(bId), JSON.stringify(bId));
  await sleep(300);
  check("client_kill: victim open until killed", endedAt === null, "ended before the kill");
  const killAt = Date.now();
  const killed = await reply(a.client("KILL", "ID", String(bId)));
  check("client_kill: CLIENT KILL ID kills one", killed === 1, JSON.stringify(killed));
  for (let i = 0; i < 30 && endedAt === null; i++) await sleep(100);
  check("client_kill: victim ends once killed", endedAt !== null && endedAt >= killAt, endedAt === null ? "still open after 3 s" : "ended before the kill");
  b.disconnect();
  const after = await reply(a.set("after", "1"));
  check("client_kill: killer still alive", after === "OK", JSON.stringify(after));
  await a.quit();
}

// A user with password `good`: the right password logs in (at connect and
// by AUTH), the wrong one gets WRONGPASS; fresh connections each.
async function auth() {
  const admin = client();
  await reply(admin.call("ACL", "SETUSER", "u", "on", ">good", "~*", "+@all"));
  await admin.quit();

  const good = client({ username: "u", password: "good" });
  const who = await reply(good.call("ACL", "WHOAMI"));
  check("auth: connect as u/good", who === "u", JSON.stringify(who));
  good.disconnect();

  let c = client();
  const ok = await reply(c.auth("u", "good"));
  check("auth: AUTH u good", ok === "OK", JSON.stringify(ok));
  c.disconnect();

  c = client();
  const bad = await reply(c.auth("u", "bad"));
  check("auth: AUTH u bad is WRONGPASS", String(bad).startsWith("error: WRONGPASS"), JSON.stringify(bad));
  c.disconnect();
}

const SCENARIOS = { lock, idempotency, client_kill: clientKill, auth };

async function main() {
  const name = process.argv[2];
  if (!SCENARIOS[name]) {
    console.error(`usage: replay_as_used.js ${Object.keys(SCENARIOS).join("|")}`);
    process.exit(2);
  }
  try {
    await SCENARIOS[name]();
  } catch (e) {
    check(`${name}: ran to the end`, false, String(e));
  }
  process.exit(failures.length ? 1 : 0);
}

main();
