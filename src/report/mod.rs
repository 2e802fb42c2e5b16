//! `resplay report`: one self-contained HTML file that shows a cassette
//! (and, after a replay, what the replay did with it).

pub mod overlay;
