'use strict';
// postinstall: find the resplay binary, or build it, and remember where.
// Order: RESPLAY_BIN; resplay on PATH; `cargo build --release` when this
// package sits in a resplay checkout (node/ next to Cargo.toml) and cargo is
// there. Otherwise the install fails, saying what to do.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { EXE, RECORDED, NOT_FOUND, isExecutable, onPath } = require('./server');

function remember(binary, how) {
  fs.writeFileSync(RECORDED, JSON.stringify({ binary, how }) + '\n');
  console.log(`resplay: using ${binary} (${how})`);
}

function main() {
  const env = process.env.RESPLAY_BIN;
  if (env) {
    if (!isExecutable(env)) {
      console.error(`resplay: RESPLAY_BIN=${env} is not an executable file`);
      return 1;
    }
    remember(path.resolve(env), 'RESPLAY_BIN');
    return 0;
  }
  const found = onPath();
  if (found) {
    remember(found, 'PATH');
    return 0;
  }
  const checkout = path.resolve(__dirname, '..');
  if (fs.existsSync(path.join(checkout, 'Cargo.toml'))) {
    const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' });
    if (cargo.status === 0) {
      console.log(`resplay: building the binary in ${checkout} (cargo build --release)`);
      const build = spawnSync('cargo', ['build', '--release', '--bin', 'resplay'], {
        cwd: checkout,
        stdio: 'inherit',
      });
      const binary = path.join(checkout, 'target', 'release', EXE);
      if (build.status === 0 && isExecutable(binary)) {
        remember(binary, 'cargo build --release');
        return 0;
      }
      console.error('resplay: cargo build --release failed (its output is above)');
      return 1;
    }
  }
  console.error(`resplay: ${NOT_FOUND}`);
  return 1;
}

process.exit(main());
