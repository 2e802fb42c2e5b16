//! The browser tests' python: a virtualenv with selenium, driving Debian's
//! headless chromium. `bash scripts/browser-venv.sh` installs all of it
//! (.ci/run does, and exports `RESPLAY_BROWSER_PYTHON`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The python that runs `tests/browser/*.py`: `RESPLAY_BROWSER_PYTHON`, else
/// the venv `scripts/browser-venv.sh` makes. Panics, naming what is missing
/// and how to install it, when the browser or selenium is not there.
pub fn python() -> PathBuf {
    let python = std::env::var_os("RESPLAY_BROWSER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("resplay/browser-venv/bin/python")
        });
    for tool in ["chromium", "chromedriver"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the browser tests need `{tool}` (Debian packages chromium and \
             chromium-driver): `bash scripts/browser-venv.sh` installs them, as .ci/run does"
        );
    }
    let selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        selenium,
        "the browser tests need selenium in {}: `bash scripts/browser-venv.sh` \
         installs it, as .ci/run does (or set RESPLAY_BROWSER_PYTHON)",
        python.display()
    );
    python
}

/// Runs `tests/browser/<script>` with `args` in the browser python, and
/// panics with its output unless it exits 0.
pub fn run_script(script: &str, args: &[&str]) -> Output {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let out = Command::new(python())
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("run the browser python");
    assert!(
        out.status.success(),
        "browser check {script} failed ({})\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
