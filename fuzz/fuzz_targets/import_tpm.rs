//! `resplay import tpm`: any file is imported or refused with an error
//! naming it, never a panic; an import that succeeds writes a cassette that
//! loads back. The bytes go through `import::tpm::import_all` and
//! `Import::to_cassette`, as `resplay import` calls them with each file's
//! content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resplay::import::{tpm, Import};

fuzz_target!(|data: &[u8]| {
    let mut import = Import::default();
    let files = [("fuzz.json".to_string(), data.to_vec())];
    if tpm::import_all(&files, &mut import).is_err() {
        return;
    }
    if let Err(e) = import.to_cassette() {
        panic!("an import that succeeded wrote a cassette that does not load: {e}");
    }
});
