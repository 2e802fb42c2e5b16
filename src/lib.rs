//! resplay: record Redis traffic into a cassette, replay it as a stand-in server.
pub mod cassette;
pub mod resp;
