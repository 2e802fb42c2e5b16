// An ioredis program whose every run sends fresh values (a random key
// suffix, the time in ms, a random token): tests/learn.rs records it twice
// and asks `resplay learn` for rules.
const crypto = require('node:crypto');
const Redis = require('ioredis');

async function main() {
  const r = new Redis(process.env.REDIS_URL);
  try {
    const job = `job:${crypto.randomBytes(6).toString('hex')}`;
    console.log('hset', await r.hset(job, 'state', 'queued', 'at', String(Date.now())));
    console.log('hget', await r.hget(job, 'state'));
    console.log('lpush', (await r.lpush('queue', job)) > 0);
    console.log('token', await r.set('nonce', crypto.randomUUID()));
  } finally {
    r.disconnect();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
