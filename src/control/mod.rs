//! Steering a running resplay: switching mode, resetting connections,
//! injecting messages, over an HTTP/JSON API, the command line
//! (`resplay ctl`) or the Rust embedding API.
//!
//! - [`api`]: the HTTP/JSON API (`--admin`), served by axum.
//! - [`inject`]: messages and invalidations delivered to live subscribers.
//! - [`registry`]: the live connections, whatever mode serves them.
//! - [`mode`]: the modes and what a switch asks for.
//! - [`steering`]: the server whose mode changes while it runs.

pub mod api;
pub mod inject;
pub mod mode;
pub mod registry;
pub mod steering;

pub use mode::{Mode, ModeSpec};
pub use steering::{Finished, Status, SteerError, SteerSettings, Steering};
