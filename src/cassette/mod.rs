//! Cassette files.
