'use strict';
// One resplay process, steered through its control API (--admin): it starts
// idle, and each test switches it to its own cassette, then back to idle.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');

const EXE = process.platform === 'win32' ? 'resplay.exe' : 'resplay';
const RECORDED = path.join(__dirname, 'resplay-bin.json');

const NOT_FOUND =
  'cannot find the resplay binary. Set RESPLAY_BIN=/path/to/resplay, put resplay on PATH ' +
  '(`pip install resplay` installs it, as does `cargo install --path .` in a resplay checkout), ' +
  'or reinstall this package from a resplay checkout with cargo available (it then builds it).';

class ResplayError extends Error {}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `resplay` on PATH, but not this package's own `npx resplay` shim (npm
 * puts node_modules/.bin on PATH while it runs install scripts). */
function onPath() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = dir && path.join(dir, EXE);
    if (!candidate || !isExecutable(candidate)) continue;
    let real = candidate;
    try {
      real = fs.realpathSync(candidate);
    } catch {
      // Keep the path as it is.
    }
    if (path.basename(real) === 'resplay.js') continue;
    return candidate;
  }
  return null;
}

/** RESPLAY_BIN, then the binary the install step found or built, then PATH. */
function findBinary() {
  const env = process.env.RESPLAY_BIN;
  if (env) {
    if (isExecutable(env)) return path.resolve(env);
    throw new ResplayError(`RESPLAY_BIN=${env} is not an executable file`);
  }
  try {
    const recorded = JSON.parse(fs.readFileSync(RECORDED, 'utf8')).binary;
    if (recorded && isExecutable(recorded)) return recorded;
  } catch {
    // Not installed through install.js, or the file is gone: look further.
  }
  const found = onPath();
  if (found) return found;
  throw new ResplayError(NOT_FOUND);
}

/** What a test does under a VCR mode: ['record'], ['replay'],
 * ['replay', 'record_misses'], or [] when `none` finds no cassette. */
function plan(mode, exists) {
  if (mode === 'all' || ((mode === 'once' || mode === 'new_episodes') && !exists)) return ['record'];
  if (mode === 'new_episodes') return ['replay', 'record_misses'];
  return exists ? ['replay'] : [];
}

/** Calls the journal keeps by default (RESPLAY_JOURNAL_MAX; 0 turns it off). */
const JOURNAL_MAX = 10000;

/** RESPLAY_JOURNAL_MAX, or the default. */
function journalMaxFromEnv() {
  const raw = process.env.RESPLAY_JOURNAL_MAX;
  if (raw === undefined || raw === '') return JOURNAL_MAX;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new ResplayError(`RESPLAY_JOURNAL_MAX=${raw}: expected a number of calls (0 turns the journal off)`);
  }
  return n;
}

class Server {
  constructor({ upstream, binary, admin, url, journalMax } = {}) {
    this.upstream = upstream || null;
    this.binary = binary || null;
    /** Calls resplay's journal keeps (`--journal-max`); 0: off. */
    this.journalMax = journalMax === undefined ? JOURNAL_MAX : journalMax;
    /** host:port of the control API. */
    this.admin = admin || null;
    this.url = url || null;
    this.log = [];
    this.proc = null;
    this.startMs = 0;
  }

  /** Starts `resplay replay --admin` idle (with --upstream when known). */
  start(timeoutMs = 20000) {
    const binary = this.binary || findBinary();
    const args = ['replay', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
    if (this.upstream) args.push('--upstream', this.upstream);
    if (this.journalMax) args.push('--journal-max', String(this.journalMax));
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      let proc;
      try {
        proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        reject(new ResplayError(`cannot run ${binary}: ${e.message}. ${NOT_FOUND}`));
        return;
      }
      this.proc = proc;
      const timer = setTimeout(() => {
        this.stop();
        reject(new ResplayError(`resplay did not start within ${timeoutMs} ms: ${this.logText()}`));
      }, timeoutMs);
      proc.on('error', (e) => {
        clearTimeout(timer);
        reject(new ResplayError(`cannot run ${binary}: ${e.message}. ${NOT_FOUND}`));
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new ResplayError(`resplay exited with status ${code} at start: ${this.logText()}`));
      });
      readline.createInterface({ input: proc.stderr }).on('line', (line) => {
        this.log.push(line);
        if (this.log.length > 200) this.log.shift();
        if (line.startsWith('resplay: control API on http://')) {
          this.admin = line.slice('resplay: control API on http://'.length).trim();
        } else if (line.startsWith('resplay: listening on ')) {
          this.url = `redis://${line.slice('resplay: listening on '.length).trim()}`;
          clearTimeout(timer);
          proc.removeAllListeners('exit');
          this.startMs = Number(process.hrtime.bigint() - started) / 1e6;
          if (!this.admin) reject(new ResplayError(`resplay did not announce its control API: ${this.logText()}`));
          else resolve(this);
        }
      });
    });
  }

  logText() {
    return this.log.join('\n') || '(no output)';
  }

  request(method, urlPath, body) {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const [host, port] = [this.admin.slice(0, this.admin.lastIndexOf(':')), this.admin.slice(this.admin.lastIndexOf(':') + 1)];
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host,
          port: Number(port),
          path: urlPath,
          method,
          // Writes only as JSON (a page in a browser cannot post that
          // without asking), with the token when resplay was given one.
          headers: {
            'content-type': 'application/json',
            ...(data ? { 'content-length': data.length } : {}),
            ...(process.env.RESPLAY_ADMIN_TOKEN
              ? { authorization: `Bearer ${process.env.RESPLAY_ADMIN_TOKEN}` }
              : {}),
          },
          timeout: 60000,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let json = null;
            try {
              json = text ? JSON.parse(text) : null;
            } catch {
              json = null;
            }
            if (res.statusCode >= 400) {
              const message = (json && json.error) || text;
              reject(new ResplayError(`resplay refused ${method} ${urlPath}: ${message}`));
            } else {
              resolve(json);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) =>
        reject(new ResplayError(`cannot reach resplay's control API at ${this.admin}: ${e.message}`)),
      );
      if (data) req.write(data);
      req.end();
    });
  }

  status() {
    return this.request('GET', '/status');
  }

  /** POST /mode; options: append, record_misses, ignore, timing. */
  switch(mode, cassette, options = {}) {
    const body = { mode };
    if (cassette) body.cassette = path.resolve(cassette);
    for (const [key, value] of Object.entries(options)) {
      if (value !== undefined && value !== null && value !== false && !(Array.isArray(value) && !value.length)) {
        body[key] = value;
      }
    }
    return this.request('POST', '/mode', body);
  }

  async idle() {
    return (await this.switch('idle')).previous;
  }

  /** GET /journal: the calls after id `since` that fit `pattern` (all without). */
  journal(pattern, since = 0) {
    const query = new URLSearchParams({ since: String(since) });
    if (pattern) query.set('pattern', pattern);
    return this.request('GET', `/journal?${query}`);
  }

  /** DELETE /journal: forgets every call; resolves to the last id given. */
  async clearJournal() {
    return (await this.request('DELETE', '/journal')).last;
  }

  /** POST /stubs: adds them (all or none); resolves to their ids. */
  async addStubs(stubs) {
    return (await this.request('POST', '/stubs', stubs)).ids;
  }

  /** DELETE /stubs. */
  clearStubs() {
    return this.request('DELETE', '/stubs');
  }

  /** SIGTERM, then SIGKILL after 15 s. */
  stop() {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => proc.kill('SIGKILL'), 15000);
      proc.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  }
}

module.exports = {
  EXE,
  RECORDED,
  NOT_FOUND,
  JOURNAL_MAX,
  ResplayError,
  Server,
  findBinary,
  journalMaxFromEnv,
  onPath,
  isExecutable,
  plan,
};
