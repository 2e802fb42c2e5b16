//! The one error type of the cassette module.
//!
//! Every message names the file, and for bad content the 1-based line, so the
//! CLI can print it as the single line a user needs: `tests/x.jsonl:17: …`.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a cassette could not be read or written.
#[derive(Debug, Error)]
pub enum CassetteError {
    /// The file could not be read at all (missing, no permission, a directory).
    #[error("cannot read cassette {}: {}", path.display(), io_message(cause))]
    Read {
        /// The cassette path as the user gave it.
        path: PathBuf,
        /// The operating system's reason. Not marked `#[source]`: the message
        /// already says it, and error-chain printers would repeat it.
        cause: io::Error,
    },
    /// The file could not be created, opened for appending, written or renamed.
    #[error("cannot write cassette {}: {}", path.display(), io_message(cause))]
    Write {
        /// The cassette path as the user gave it (or its `.partial` sibling).
        path: PathBuf,
        /// The operating system's reason.
        cause: io::Error,
    },
    /// A line is not valid cassette JSON.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The cassette path as the user gave it.
        path: PathBuf,
        /// 1-based line number, as editors count.
        line: usize,
        /// What was wrong, already readable (no "at line 1 column 5" noise).
        message: String,
    },
    /// The header announces a format version this build does not read.
    #[error(
        "{}:1: unsupported cassette format version {found} (this resplay reads version {})",
        path.display(),
        super::FORMAT_VERSION
    )]
    Version {
        /// The cassette path as the user gave it.
        path: PathBuf,
        /// The version number found in the header's `"resplay"` key.
        found: u64,
    },
}

impl CassetteError {
    /// The 1-based line a content error points at, if it is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            CassetteError::Parse { line, .. } => Some(*line),
            CassetteError::Version { .. } => Some(1),
            _ => None,
        }
    }
}

/// The OS error text without Rust's ` (os error 2)` suffix, so messages read
/// like `cannot read cassette x.jsonl: No such file or directory`.
pub(crate) fn io_message(e: &io::Error) -> String {
    let text = e.to_string();
    if let Some(code) = e.raw_os_error() {
        let suffix = format!(" (os error {code})");
        if let Some(stripped) = text.strip_suffix(&suffix) {
            return stripped.to_string();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_error_reads_like_a_sentence() {
        let cause = io::Error::from_raw_os_error(2);
        let e = CassetteError::Read {
            path: PathBuf::from("tests/x.jsonl"),
            cause,
        };
        assert_eq!(
            e.to_string(),
            "cannot read cassette tests/x.jsonl: No such file or directory"
        );
    }

    #[test]
    fn parse_error_names_file_and_line() {
        let e = CassetteError::Parse {
            path: PathBuf::from("tests/x.jsonl"),
            line: 17,
            message: "expected value".into(),
        };
        assert_eq!(e.to_string(), "tests/x.jsonl:17: expected value");
        assert_eq!(e.line(), Some(17));
    }

    #[test]
    fn version_error_says_what_is_supported() {
        let e = CassetteError::Version {
            path: PathBuf::from("c.jsonl"),
            found: 2,
        };
        assert_eq!(
            e.to_string(),
            "c.jsonl:1: unsupported cassette format version 2 (this resplay reads version 1)"
        );
    }
}
