//! Steering a running resplay: switching mode, resetting connections,
//! injecting messages, over an HTTP/JSON API, the command line
//! (`resplay ctl`) or the Rust embedding API.
//!
//! - [`api`]: the HTTP/JSON API (`--admin`), served by axum.
//! - [`guard`]: who may use it (Host, Origin, JSON posts, the token).
//! - [`journal`]: `GET`/`DELETE /journal`, the calls received.
//! - [`mode`]: the modes and what a switch asks for.
//! - [`steering`]: the server whose mode changes while it runs.
//! - [`stubs`]: `GET`/`POST`/`DELETE /stubs`, hand-written replies.
//! - [`tail`]: the live tail of interactions (`crate::tail`, which record
//!   and replay feed), for the web console.
//! - [`ui`]: the web console's page (`/ui`) and event stream (`/events`).

pub mod api;
pub mod guard;
pub mod journal;
pub mod mode;
pub mod steering;
pub mod stubs;
pub mod ui;

pub use crate::tail;
pub use mode::{Mode, ModeSpec};
pub use steering::{Finished, Status, SteerError, SteerSettings, Steering};
