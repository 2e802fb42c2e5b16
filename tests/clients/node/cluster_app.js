// An ioredis Cluster program for resplay's cluster tests.
//
// It prints what it got, line by line, the same whether it talks to a real
// cluster or to resplay recording or replaying one (no address, port or
// timing is printed), so the outputs can be compared byte for byte.
//
// Where it starts from: --nodes HOST:PORT,... (or REDIS_CLUSTER_NODES) is
// the startup node list; otherwise --url (or REDIS_URL) names one node. No
// natMap: resplay rewrites every address the cluster hands out to its own
// listeners, so the addresses the client is told are the ones to use.
//
//   --replicas  scaleReads "slave": reads go to replicas, on connections
//               that sent READONLY (writes are WAITed for first)
//   --hold      prints "hold" and waits for stdin to close before quitting
//
// Determinism: no periodic slot refresh, no ready check (CLUSTER INFO to a
// random node), one startup node unless told otherwise, commands one at a
// time.
const crypto = require("crypto");
const Redis = require("ioredis");

function option(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name) => process.argv.includes(name);

function startupNodes() {
  const url = option("--url");
  const list = option("--nodes") || (url ? undefined : process.env.REDIS_CLUSTER_NODES);
  if (list) {
    return list.split(",").map((a) => {
      const i = a.lastIndexOf(":");
      return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
    });
  }
  const u = new URL(url || process.env.REDIS_URL);
  return [{ host: u.hostname, port: Number(u.port) }];
}

function nextEvent(emitter, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} in ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function main() {
  const replicas = flag("--replicas");
  const count = Number(option("--keys") || 200);
  const cluster = new Redis.Cluster(startupNodes(), {
    scaleReads: replicas ? "slave" : "master",
    enableReadyCheck: false,
    slotsRefreshInterval: 0,
    shardedSubscribers: true,
    redisOptions: { enableReadyCheck: false },
  });

  // Keys over all slots; a run leaves the same state whatever ran before.
  const keys = Array.from({ length: count }, (_, i) => `js:k:${i}`);
  for (const k of keys) await cluster.del(k);
  for (let i = 0; i < count; i++) await cluster.set(keys[i], `v${i}`);
  if (replicas) {
    // Replication is asynchronous: a replica read must not race the write.
    const acks = [];
    for (const node of cluster.nodes("master")) acks.push(await node.wait(1, 5000));
    console.log("wait", JSON.stringify(acks.sort()));
  }
  const values = [];
  for (const k of keys) values.push(await cluster.get(k));
  const ok = values.every((v, i) => v === `v${i}`);
  console.log("get", values.length, ok ? "ok" : JSON.stringify(values));
  const digest = crypto.createHash("sha1").update(values.map((v) => v ?? "-").join(",")).digest("hex");
  console.log("digest", digest);

  // Hash-tagged keys: one slot, so multi-key commands and MULTI work.
  await cluster.del("{user:1}:a", "{user:1}:b", "{user:1}:c", "{user:1}:n");
  console.log("mset", await cluster.mset("{user:1}:a", "1", "{user:1}:b", "2", "{user:1}:c", "3"));
  console.log("mget", JSON.stringify(await cluster.mget("{user:1}:a", "{user:1}:b", "{user:1}:c", "{user:1}:missing")));
  console.log("incr", await cluster.incr("{user:1}:n"), await cluster.incr("{user:1}:n"));
  const tx = await cluster.multi().incr("{user:1}:n").get("{user:1}:a").exec();
  console.log("multi", JSON.stringify(tx));

  // An ioredis cluster pipeline must stay in one slot.
  const piped = await cluster
    .pipeline()
    .set("{js:pipe}:a", "x")
    .get("{js:pipe}:a")
    .incr("{js:pipe}:n")
    .del("{js:pipe}:n")
    .exec();
  console.log("pipeline", JSON.stringify(piped));
  console.log("missing", await cluster.get("js:missing"));

  // Sharded pub/sub: the subscriber connects to the slot's primary.
  const message = nextEvent(cluster, "smessage");
  console.log("ssubscribe", await cluster.ssubscribe("js:chan{7}"));
  console.log("spublish", await cluster.spublish("js:chan{7}", "hello shard"));
  console.log("smessage", JSON.stringify((await message).slice(0, 2)));
  console.log("sunsubscribe", JSON.stringify(await cluster.sunsubscribe("js:chan{7}")));

  console.log("done");
  if (flag("--hold")) {
    console.log("hold");
    process.stdin.resume();
    await new Promise((resolve) => process.stdin.on("end", resolve));
  }
  await cluster.quit();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
