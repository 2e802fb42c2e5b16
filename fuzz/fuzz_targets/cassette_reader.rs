//! Cassette files: loading any file must give a cassette or an error, never
//! a panic. The input goes through a real file because `load` takes a path.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One file per process, so parallel fuzz jobs (`-fork`/`-jobs`) do not race.
fn scratch_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("resplay-fuzz-cassette-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch_path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let _ = resplay::cassette::load(path);
});
