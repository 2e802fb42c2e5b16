// A small ioredis program that resplay's tests wrap with `resplay run`.
// It talks to whatever REDIS_URL names and prints what it got. For a
// rediss:// URL, TLS_CA names the CA to trust and TLS_CERT/TLS_KEY a client
// certificate (mutual TLS); a plain URL ignores them.
const fs = require("fs");
const Redis = require("ioredis");

function tlsOptions(url) {
  if (!url.startsWith("rediss://")) return undefined;
  const tls = {};
  for (const [v, k] of [["TLS_CA", "ca"], ["TLS_CERT", "cert"], ["TLS_KEY", "key"]]) {
    if (process.env[v]) tls[k] = fs.readFileSync(process.env[v]);
  }
  return tls;
}

async function main() {
  const url = process.env.REDIS_URL;
  const r = new Redis(url, { enableReadyCheck: false, tls: tlsOptions(url) });
  await r.set("js:greeting", "hello");
  console.log("get", await r.get("js:greeting"));
  console.log("incr", await r.incr("js:counter"), await r.incr("js:counter"));
  await r.hset("js:user", "name", "Ada", "lang", "JavaScript");
  console.log("hgetall", JSON.stringify(await r.hgetall("js:user")));
  const results = await r.pipeline().incr("js:counter").get("js:greeting").exec();
  console.log("pipeline", JSON.stringify(results));
  console.log("missing", await r.get("js:missing"));
  await r.quit();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
