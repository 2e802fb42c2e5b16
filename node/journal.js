'use strict';
// What a test's code said to Redis, read from resplay's call journal
// (GET /journal): `resplay.calls(pattern)` and the `toHaveReceived` matcher
// for Jest and Vitest.

const { ResplayError } = require('./server');

/** How many close calls a failed expectation lists at most. */
const SHOWN = 10;

/** A call as one line: `SET user:1 ada EX 60 -> OK  (conn 3, db 0)`. */
function showCall(call) {
  return `${call.cmd} -> ${call.reply}  (conn ${call.conn}, db ${call.db})`;
}

/** Levenshtein-based likeness of two strings, 0 to 1. */
function likeness(a, b) {
  if (a === b) return 1;
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return 1 - row[b.length] / Math.max(a.length, b.length, 1);
}

/**
 * The calls with the pattern's command name; when there are none (and none
 * matched either), the three nearest by their text.
 */
function closeCalls(pattern, calls, someMatched) {
  const name = (pattern.trim().split(/\s+/)[0] || '').toUpperCase();
  if (name && name !== '*') {
    const same = calls.filter((c) => c.args.length && c.args[0].toUpperCase() === name);
    if (same.length) return { close: same, how: `same command, ${name}` };
  }
  if (someMatched) return { close: [], how: '' };
  const upper = pattern.toUpperCase();
  const ranked = calls
    .map((c) => ({ c, score: likeness(upper, c.cmd.toUpperCase()) }))
    .sort((x, y) => y.score - x.score)
    .map((x) => x.c);
  return { close: ranked.slice(0, 3), how: 'nearest by text' };
}

function listed(title, calls) {
  if (!calls.length) return [];
  const lines = [`  ${title}:`].concat(calls.slice(0, SHOWN).map((c) => `    ${showCall(c)}`));
  if (calls.length > SHOWN) lines.push(`    … and ${calls.length - SHOWN} more`);
  return lines;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The words of a failed expectation: wanted, got, and the calls that came close. */
function failure(pattern, times, found, every, negated) {
  const wanted = negated
    ? times === undefined
      ? 'no call'
      : `not ${plural(times, 'call')}`
    : times === undefined
      ? 'at least 1 call'
      : plural(times, 'call');
  const lines = [
    `resplay: expected ${wanted} matching '${pattern}', got ${found.length} ` +
      `(this test made ${plural(every.length, 'call')})`,
  ].concat(listed('calls that matched', found));
  if (!negated) {
    const matched = new Set(found.map((c) => c.id));
    const { close, how } = closeCalls(
      pattern,
      every.filter((c) => !matched.has(c.id)),
      found.length > 0,
    );
    if (close.length) lines.push(...listed(`close calls (${how})`, close));
    else if (!found.length) lines.push('  no call came close');
  }
  return lines.join('\n');
}

/**
 * `await expect(resplay).toHaveReceived(pattern, times?)`: the test made
 * exactly `times` calls that fit `pattern` (at least one without `times`).
 */
async function toHaveReceived(received, pattern, times) {
  if (!received || typeof received.calls !== 'function') {
    throw new ResplayError('toHaveReceived: expect() the handle useResplay() returned: expect(resplay)');
  }
  if (times !== undefined && !(Number.isInteger(times) && times >= 0)) {
    throw new ResplayError(`toHaveReceived: times = ${times}: expected a whole number`);
  }
  const found = await received.calls(pattern);
  const pass = times === undefined ? found.length > 0 : found.length === times;
  const every = pass && !this.isNot ? [] : await received.calls();
  return {
    pass,
    message: () => failure(pattern, times, found, every, Boolean(this.isNot)),
  };
}

const matchers = { toHaveReceived };

module.exports = { matchers, toHaveReceived, closeCalls, failure, showCall };
