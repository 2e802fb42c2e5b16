// A small ioredis program that resplay's tests wrap with `resplay run`.
// It talks to whatever REDIS_URL names and prints what it got.
const Redis = require("ioredis");

async function main() {
  const r = new Redis(process.env.REDIS_URL, { enableReadyCheck: false });
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
