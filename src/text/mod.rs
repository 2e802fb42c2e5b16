//! Commands and replies as people read them, the way `redis-cli` prints
//! them: in `resplay show`, miss errors, reports, the live tail and the
//! journal. Low in the layers so that every mode and tool can show what it
//! handles without depending on the others.
//!
//! - [`command`]: a command echoed, a string quoted (`sdscatrepr`).
//! - [`reply`]: a reply as redis-cli prints it (`cliFormatReplyTTY`).

pub mod command;
pub mod reply;
