//! resplay: record Redis traffic into a cassette, replay it as a stand-in server.
pub mod cassette;
pub mod command;
pub mod config;
pub mod record;
pub mod replay;
pub mod resp;
pub mod server;
pub mod show;
pub mod upstream;
