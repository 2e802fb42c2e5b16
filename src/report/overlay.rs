//! The replay overlay a report draws: what a replay did with each
//! recording. Defined with replay, which fills it (the report is a cassette
//! tool, a layer above); named here too, where the report reads it.

pub use crate::replay::overlay::{MissNote, ReplayOverlay, ReportWriter, MISSES_KEPT};
