// Three tests against Redis through ioredis, each with its own resplay
// cassette (cassettes/app.test/<test name>.jsonl).
const { randomUUID } = require('node:crypto');
const Redis = require('ioredis');
const { useResplay } = require('resplay');

// A fresh lock key every run: the ignore rule lets replay match it.
const resplay = useResplay({ ignore: ['SET lock:* <any> EX <any>'] });

// tests/packages.rs changes this line to make one test send another command.
const GREETING = 'hello';

test('strings', async () => {
  const r = new Redis(resplay.url);
  try {
    expect(await r.set(`lock:${randomUUID()}`, '1', 'EX', 30)).toBe('OK');
    await r.set('greeting', GREETING);
    expect(await r.get('greeting')).toBe(GREETING);
    expect(await r.incr('visits')).toBe(1);
  } finally {
    await r.quit();
  }
});

test('pipeline', async () => {
  const r = new Redis(resplay.url);
  try {
    const results = await r
      .pipeline()
      .rpush('queue', 'a', 'b', 'c')
      .lrange('queue', 0, -1)
      .hset('user:1', { name: 'Ada', lang: 'en' })
      .hgetall('user:1')
      .exec();
    expect(results).toEqual([
      [null, 3],
      [null, ['a', 'b', 'c']],
      [null, 2],
      [null, { name: 'Ada', lang: 'en' }],
    ]);
  } finally {
    await r.quit();
  }
});

test('pub/sub', async () => {
  // Both clients open at once with the same handshake: replay must still
  // tell the subscriber's recording from the publisher's.
  const sub = new Redis(resplay.url);
  const pub = new Redis(resplay.url);
  try {
    const received = new Promise((resolve) => sub.on('message', (channel, message) => resolve([channel, message])));
    expect(await sub.subscribe('news')).toBe(1);
    expect(await pub.publish('news', 'resplay is out')).toBe(1);
    expect(await received).toEqual(['news', 'resplay is out']);
  } finally {
    await sub.quit();
    await pub.quit();
  }
});
