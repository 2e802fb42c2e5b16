//! The config file (`--config`, `resplay.toml`): any text is a config or an
//! error naming the file (and a line when there is one), never a panic. The
//! same function `--config` reads the file with.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    match resplay::config::parse(text, path) {
        Ok(config) => {
            let _ = config.upstream_url();
            let _ = config.on_miss();
            let _ = config.timing();
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("fuzz.toml"),
                "error without the file: {message}"
            );
        }
    }
});
