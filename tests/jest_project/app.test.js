// Tests against Redis through ioredis, each with its own resplay
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

test('cache write has a ttl', async () => {
  const r = new Redis(resplay.url);
  try {
    await r.set('user:1', 'ada', 'EX', 60);
    expect(await r.get('user:1')).toBe('ada');
    // tests/packages.rs changes this line to check a failed expectation's words.
    await expect(resplay).toHaveReceived('SET user:* <any> EX <any>', 1);
    const [call] = await resplay.calls('SET user:* ...');
    expect(call.args).toEqual(['set', 'user:1', 'ada', 'EX', '60']);
    expect(call.reply).toBe('OK');
    // Only this test's calls: none of another test's keys.
    await expect(resplay).not.toHaveReceived('SET greeting ...');
  } finally {
    await r.quit();
  }
});

test('retries while redis loads', async () => {
  // Replaying, the first two GETs get -LOADING from the stub, the third the
  // recorded value (times: 2, so the recording is used and strict holds);
  // recording, Redis answers the first.
  await resplay.stub({ pattern: 'GET config:flag', error: 'LOADING Redis is loading the dataset in memory', times: 2 });
  const r = new Redis(resplay.url);
  try {
    await r.set('config:flag', 'on');
    let value;
    for (let attempt = 1; value === undefined; attempt++) {
      try {
        value = await r.get('config:flag');
      } catch (e) {
        if (!e.message.startsWith('LOADING') || attempt === 3) throw e;
      }
    }
    expect(value).toBe('on');
    await expect(resplay).toHaveReceived('GET config:flag', resplay.mode === 'replay' ? 3 : 1);
  } finally {
    await r.quit();
  }
});
