'use strict';
// resplay for Jest and Vitest: `useResplay()` in a test file gives each test
// its own cassette, `cassettes/<file>/<test name>.jsonl` next to the test
// file, on one resplay process per worker started by the global setup (or,
// without it, one per test file).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { matchers } = require('./journal');
const { ResplayError, Server, findBinary, journalMaxFromEnv, plan } = require('./server');

const MODES = ['once', 'new_episodes', 'none', 'all'];

function mode(options) {
  const chosen = options.mode || process.env.RESPLAY_MODE || 'once';
  if (!MODES.includes(chosen)) {
    throw new ResplayError(`RESPLAY_MODE=${chosen}: expected one of ${MODES.join(', ')}`);
  }
  return chosen;
}

function upstream(options) {
  return options.upstream || process.env.RESPLAY_UPSTREAM || process.env.REDIS_URL || null;
}

function maxAge(options) {
  return options.maxAge || process.env.RESPLAY_MAX_AGE || null;
}

/**
 * Under a max age: an expired cassette (by its header's `created`) is
 * recorded again when there is an upstream and the mode records at all;
 * otherwise a warning, or an error when strict. `resplay age` judges, so
 * durations read as everywhere else in resplay ("30d", "12h").
 */
function expiry(cassette, chosen, steps, options, server, strict) {
  const age = maxAge(options);
  if (!age || steps[0] !== 'replay') return steps;
  let verdict;
  try {
    const out = execFileSync(findBinary(), ['age', '--json', '--max-age', String(age), cassette], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    verdict = JSON.parse(out);
  } catch (e) {
    if (e.status === 1 && e.stdout) {
      verdict = JSON.parse(e.stdout);
    } else {
      const why = (e.stderr && String(e.stderr).trim()) || e.message;
      throw new ResplayError(`resplay: maxAge ${age}: ${why}`);
    }
  }
  if (!verdict.expired) return steps;
  const said = `resplay: cassette ${shown(cassette)}: ${verdict.said}`;
  if (chosen !== 'none' && server.upstream) {
    console.warn(`${said}: recording it again`);
    return ['record'];
  }
  const hint =
    chosen === 'none'
      ? 'mode none never records: use once with RESPLAY_UPSTREAM to record it again'
      : 'set RESPLAY_UPSTREAM=redis://HOST:PORT or REDIS_URL to record it again';
  if (strict) throw new ResplayError(`${said}; ${hint}`);
  console.warn(`${said}; replaying it anyway (${hint})`);
  return steps;
}

function workerId() {
  return process.env.JEST_WORKER_ID || process.env.VITEST_POOL_ID || '1';
}

/** The server the global setup started for this worker, if any. */
function sharedServer() {
  const id = workerId();
  const admin = process.env[`RESPLAY_ADMIN_${id}`];
  const url = process.env[`RESPLAY_URL_${id}`];
  if (!admin || !url) return null;
  const journalMax = Number(process.env[`RESPLAY_JOURNAL_MAX_${id}`] || 0);
  return new Server({ admin, url, upstream: process.env.RESPLAY_SESSION_UPSTREAM || null, journalMax });
}

/** A stub as POST /stubs takes it: 'PATTERN => REPLY' is a stub's pattern
 * (which takes the reply after =>); an object is a stub as docs/stubs.md
 * writes its keys. */
function stubList(rules) {
  if (rules === undefined || rules === null) return [];
  return [].concat(rules).map((rule) => {
    if (typeof rule === 'string') return { pattern: rule };
    if (rule && typeof rule === 'object' && !Array.isArray(rule)) return { ...rule };
    throw new ResplayError(
      `resplay stubs: ${JSON.stringify(rule)}: expected 'PATTERN => REPLY' or an object such as ` +
        "{ pattern: 'GET k', error: 'LOADING ...', times: 2 }",
    );
  });
}

function sanitize(name) {
  return name.replace(/[^A-Za-z0-9_.\-[\]]+/g, '-').replace(/^-+|-+$/g, '');
}

/** `cassettes/<file name without .js>/<test name>.jsonl` next to the test file. */
function defaultCassette(testPath, testName) {
  const dir = path.dirname(testPath);
  const module = path.basename(testPath).replace(/\.[cm]?[jt]sx?$/, '');
  return path.join(dir, 'cassettes', module, `${sanitize(testName)}.jsonl`);
}

function currentTest(expectObject) {
  const state = expectObject && expectObject.getState ? expectObject.getState() : {};
  if (!state.testPath || !state.currentTestName) {
    throw new ResplayError('useResplay: cannot tell the running test (expect.getState() has no testPath/currentTestName)');
  }
  return state;
}

/**
 * The prune option (default $RESPLAY_PRUNE=1): rewrite a replayed test's
 * cassette without the recordings it left unused, when it passed and its
 * replay missed nothing.
 */
function prunes(options) {
  return options.prune !== undefined ? Boolean(options.prune) : process.env.RESPLAY_PRUNE === '1';
}

/** Beside the cassette, `.pruned` before its extensions (`t.pruned.jsonl.zst`). */
function prunedPath(cassette) {
  const name = path.basename(cassette);
  const dot = name.indexOf('.');
  const pruned = dot < 0 ? `${name}.pruned` : `${name.slice(0, dot)}.pruned${name.slice(dot)}`;
  return path.join(path.dirname(cassette), pruned);
}

/**
 * jest-circus's state: under `Symbol.for('JEST_STATE_SYMBOL')` up to Jest
 * 29, under a `Symbol('JEST_STATE_SYMBOL')` of its own since Jest 30 (found
 * among the global's symbols by its description).
 */
function jestState() {
  const registered = globalThis[Symbol.for('JEST_STATE_SYMBOL')];
  if (registered) return registered;
  const own = Object.getOwnPropertySymbols(globalThis).find((s) => s.description === 'JEST_STATE_SYMBOL');
  return own ? globalThis[own] : undefined;
}

/**
 * Whether the test that just ran failed: Vitest hands afterEach its test
 * context; Jest (jest-circus) keeps the running test's errors in its state.
 * `undefined` when neither tells, and nothing is pruned then.
 */
function testFailed(context) {
  const result = context && context.task && context.task.result;
  if (result && result.state) return result.state === 'fail';
  const state = jestState();
  const running = state && state.currentlyRunningTest;
  if (running && Array.isArray(running.errors)) return running.errors.length > 0;
  return undefined;
}

function shown(file) {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') ? file : relative;
}

/**
 * Registers hooks that give every test in this file its own cassette.
 * Returns an object whose `url` is resplay's address during each test.
 *
 * options: mode (default $RESPLAY_MODE or once), upstream (default
 * $RESPLAY_UPSTREAM or $REDIS_URL), strict (default $RESPLAY_STRICT=1),
 * maxAge (default $RESPLAY_MAX_AGE: record a cassette older than that again,
 * e.g. '30d'),
 * ignore (rules), timing ('none' | 'recorded'), cassette(testPath, testName)
 * to name another path, stubs (hand-written replies for every test of the
 * file: 'PATTERN => REPLY' strings or objects as in docs/stubs.md, or a
 * function (testPath, testName) returning them), journalMax (calls the
 * journal keeps when this file starts its own process; default
 * $RESPLAY_JOURNAL_MAX or 10000), and the hooks and expect of the runner
 * (found as globals in Jest, and in Vitest with `globals: true`; else pass
 * them: `useResplay({ beforeAll, beforeEach, afterEach, afterAll, expect })`).
 *
 * The handle: `url`; `mode` ('record' | 'replay') during a test;
 * `await calls(pattern)` (this test's calls that fit the pattern, the
 * `--ignore` syntax; all without); `await stub(rules)` (more stubs, for
 * this test only). `toHaveReceived` is registered on the runner's expect:
 * `await expect(resplay).toHaveReceived('SET user:* <any> EX <any>', 1)`.
 */
function useResplay(options = {}) {
  const hooks = {};
  for (const name of ['beforeAll', 'beforeEach', 'afterEach', 'afterAll', 'expect']) {
    hooks[name] = options[name] || globalThis[name];
    if (!hooks[name]) {
      throw new ResplayError(
        `useResplay: no ${name}: pass it (useResplay({ ${name}, ... }) with the runner's import), ` +
          'or enable globals (Vitest: test.globals = true)',
      );
    }
  }
  const handle = { url: null, server: null, cassette: null, mode: null, switchMs: [] };
  let own = false;
  let current = null;
  // The journal's last id when the running test started (null: journal off).
  let since = null;
  let stubbed = false;

  if (typeof hooks.expect.extend === 'function') hooks.expect.extend(matchers);

  /** This test's calls that fit `pattern` (every call without), oldest first. */
  handle.calls = async (pattern) => {
    if (!handle.server || since === null) {
      throw new ResplayError(
        'the call journal is off (journalMax 0 / RESPLAY_JOURNAL_MAX=0): give it a size, e.g. 10000 (the default)',
      );
    }
    const answer = await handle.server.journal(pattern, since);
    if (answer.dropped) {
      throw new ResplayError(
        `the call journal dropped ${answer.dropped} call(s) of this test (it keeps ${answer.max}): ` +
          'raise RESPLAY_JOURNAL_MAX',
      );
    }
    return answer.calls;
  };

  /** Adds stubs for the running test; they are removed after it. */
  handle.stub = async (rules) => {
    if (!current) throw new ResplayError('resplay.stub(): call it inside a test');
    const list = stubList(rules);
    if (!list.length) return [];
    stubbed = true;
    return handle.server.addStubs(list);
  };

  hooks.beforeAll(async () => {
    handle.server = sharedServer();
    if (!handle.server) {
      const journalMax = options.journalMax !== undefined ? options.journalMax : journalMaxFromEnv();
      handle.server = await new Server({ upstream: upstream(options), binary: findBinary(), journalMax }).start();
      own = true;
    }
    handle.url = handle.server.url;
  });

  hooks.beforeEach(async () => {
    const { testPath, currentTestName } = currentTest(hooks.expect);
    const chosen = mode(options);
    const cassette = options.cassette
      ? path.resolve(path.dirname(testPath), options.cassette(testPath, currentTestName))
      : defaultCassette(testPath, currentTestName);
    let steps = plan(chosen, fs.existsSync(cassette));
    if (!steps.length) {
      throw new ResplayError(
        `resplay: cassette ${shown(cassette)} does not exist, and mode none never records. ` +
          'Record it with RESPLAY_MODE=once (or new_episodes) and a real Redis ' +
          '(RESPLAY_UPSTREAM=redis://HOST:PORT or REDIS_URL).',
      );
    }
    const server = handle.server;
    const strict = options.strict !== undefined ? options.strict : process.env.RESPLAY_STRICT === '1';
    steps = expiry(cassette, chosen, steps, options, server, strict);
    if ((steps[0] === 'record' || steps.includes('record_misses')) && !server.upstream) {
      const why = steps[0] === 'record' ? 'record' : 'record what is missing from';
      throw new ResplayError(
        `resplay: mode ${chosen} needs a real Redis to ${why} ${shown(cassette)}: ` +
          'set RESPLAY_UPSTREAM=redis://HOST:PORT or REDIS_URL',
      );
    }
    const started = process.hrtime.bigint();
    if (steps[0] === 'record') {
      fs.mkdirSync(path.dirname(cassette), { recursive: true });
      await server.switch('record', cassette);
    } else {
      await server.switch('replay', cassette, {
        record_misses: steps.includes('record_misses'),
        ignore: options.ignore ? [].concat(options.ignore) : undefined,
        timing: options.timing,
        write_pruned: prunes(options) ? prunedPath(cassette) : undefined,
      });
    }
    handle.switchMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    current = { cassette, replaying: steps[0] === 'replay', strict };
    handle.cassette = cassette;
    handle.mode = steps[0];
    since = null;
    const stubs = stubList(
      typeof options.stubs === 'function' ? options.stubs(testPath, currentTestName) : options.stubs,
    );
    if (stubs.length) {
      stubbed = true;
      await server.addStubs(stubs);
    }
    // Each test's journal holds its own calls: emptied at its start (and
    // read from the last id given then).
    if (server.journalMax) since = await server.clearJournal();
  });

  // A plain function, so that Jest (which takes a hook with a parameter for
  // one with a done callback) passes nothing, and Vitest its test context.
  hooks.afterEach(async function afterEachTest() {
    const failed = testFailed(arguments[0]);
    const test = current;
    current = null;
    if (!test) return;
    const server = handle.server;
    let failure = null;
    if (test.strict && test.replaying) {
      const status = await server.status();
      const missed = status.missed || 0;
      const unused = status.unused || 0;
      if (missed || unused) {
        failure = [`resplay strict: replaying ${shown(test.cassette)}: ${missed} missed, ${unused} unused`]
          .concat((status.first_misses || []).map((c) => `  missed: ${c}`))
          .concat((status.first_unused || []).map((c) => `  unused: ${c}`))
          .join('\n');
      }
    }
    handle.lastReport = await server.idle();
    handle.mode = null;
    if (stubbed) {
      stubbed = false;
      await server.clearStubs();
    }
    if (test.replaying && prunes(options)) {
      // resplay wrote it unless the replay missed; it replaces the cassette
      // only when the test is known to have passed: one that failed
      // half-way left recordings unused that it still needs.
      const pruned = prunedPath(test.cassette);
      if (fs.existsSync(pruned) && failed === false) fs.renameSync(pruned, test.cassette);
      fs.rmSync(pruned, { force: true });
    }
    if (failure) throw new ResplayError(failure);
  });

  hooks.afterAll(async () => {
    if (own && handle.server) await handle.server.stop();
    if (process.env.RESPLAY_TIMINGS && handle.switchMs.length) {
      const sorted = [...handle.switchMs].sort((a, b) => a - b);
      const line =
        `resplay: ${sorted.length} test cassette(s), ` +
        `${own ? `own process started in ${handle.server.startMs.toFixed(1)} ms` : 'shared process'}; ` +
        `switch median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms\n`;
      fs.appendFileSync(process.env.RESPLAY_TIMINGS, line);
    }
  });

  return handle;
}

module.exports = { useResplay, defaultCassette, plan, matchers, Server, ResplayError, findBinary, MODES };
