// An ioredis program run under `resplay run --fault 'GET js:k => drop count=1'`
// (tests/faults_clients.rs): the connection drops on the first GET, ioredis
// reconnects, and the GET (retried once if ioredis did not resend it) gets
// its value. Prints what it saw.
const Redis = require("ioredis");

async function main() {
  const r = new Redis(process.env.REDIS_URL, {
    enableReadyCheck: false,
    retryStrategy: () => 50,
  });
  let reconnects = 0;
  r.on("reconnecting", () => reconnects++);
  await r.set("js:k", "v");
  let value;
  try {
    value = await r.get("js:k");
  } catch (e) {
    value = await r.get("js:k");
  }
  console.log("get", value);
  console.log("reconnected", reconnects > 0);
  await r.quit();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
