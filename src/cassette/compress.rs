//! Compressed cassettes: a cassette whose file name ends in `.zst` holds
//! the same JSON Lines, stored as a run of zstd frames.
//!
//! Every batch the writer hands to the OS is one whole frame (the header is
//! the first), so the file is always a sequence of complete frames but for,
//! after a `kill -9`, one torn frame at its end. Concatenated frames decode
//! as one stream, which is also why appending is just adding frames. The
//! reader tolerates the torn last frame as it tolerates a truncated last
//! line: whatever of it decodes is kept, and a warning names the file.
//!
//! Each frame carries zstd's content checksum, so a damaged frame is an
//! error rather than wrong lines. The price of a frame per batch is that
//! frames do not share a window: a recorder that writes one small event at
//! a time compresses less than one writing large batches.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use zstd::zstd_safe;

/// The zstd level cassettes are written with: zstd's default, fast enough
/// to keep up with a recorder at full speed.
const LEVEL: i32 = 3;

/// True for a cassette stored compressed: the name ends in `.zst`
/// (`c.jsonl.zst`).
pub fn is_compressed(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "zst")
}

/// A cassette file opened for reading: its JSON Lines, decompressed when
/// the file is [compressed](is_compressed).
pub struct CassetteReader {
    source: Source,
    /// The compressed file ended inside a frame.
    torn: bool,
}

enum Source {
    Plain(File),
    Zstd(Box<zstd::stream::read::Decoder<'static, BufReader<File>>>),
    /// A torn frame was met: nothing more to read.
    Done,
}

impl CassetteReader {
    /// Opens `path`, decompressing if its name says so.
    pub fn open(path: &Path) -> io::Result<CassetteReader> {
        let file = File::open(path)?;
        let source = if is_compressed(path) {
            Source::Zstd(Box::new(zstd::stream::read::Decoder::new(file)?))
        } else {
            Source::Plain(file)
        };
        Ok(CassetteReader {
            source,
            torn: false,
        })
    }

    /// True once the read reached the end of a compressed file inside a
    /// frame (what a recorder killed mid-write leaves): the reads ended
    /// there, after what of the frame could be decoded (which may end
    /// inside a line).
    pub fn torn(&self) -> bool {
        self.torn
    }
}

impl Read for CassetteReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.source {
            Source::Plain(file) => file.read(buf),
            Source::Zstd(decoder) => match decoder.read(buf) {
                // The decoder's word for input that ends inside a frame;
                // damage inside the file is another error.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.torn = true;
                    self.source = Source::Done;
                    Ok(0)
                }
                Err(e) => Err(io::Error::new(e.kind(), format!("zstd: {e}"))),
                ok => ok,
            },
            Source::Done => Ok(0),
        }
    }
}

/// Makes frames: one for each batch of whole lines.
pub struct FrameEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    frame: Vec<u8>,
}

impl FrameEncoder {
    /// A compressor at level `LEVEL` (3) whose frames carry a content checksum.
    pub fn new() -> io::Result<FrameEncoder> {
        let mut compressor = zstd::bulk::Compressor::new(LEVEL)?;
        compressor.include_checksum(true)?;
        Ok(FrameEncoder {
            compressor,
            frame: Vec::new(),
        })
    }

    /// `text` as one complete frame, valid until the next call.
    pub fn frame(&mut self, text: &[u8]) -> io::Result<&[u8]> {
        self.frame.clear();
        self.frame.reserve(zstd_safe::compress_bound(text.len()));
        self.compressor
            .compress_to_buffer(text, &mut self.frame)
            .map_err(|e| io::Error::other(format!("zstd: {e}")))?;
        Ok(&self.frame)
    }
}

/// Writes a whole cassette's `text` to `path`, as one frame when the name
/// says it is [compressed](is_compressed) (`compressed` decides, so that a
/// temporary `c.jsonl.zst.partial` is written as its target will be read).
pub fn write_file(path: &Path, text: &[u8], compressed: bool) -> io::Result<()> {
    if compressed {
        std::fs::write(path, FrameEncoder::new()?.frame(text)?)
    } else {
        std::fs::write(path, text)
    }
}

/// Readies a compressed cassette of `len` bytes for appending: a torn last
/// frame is cut off, and the whole lines it still held are written back as
/// a frame of their own, so the file ends in complete frames again with
/// nothing lost that a reader would have loaded. Returns the new length
/// (0: not even a header survived, start over).
pub fn cut_torn_frame(file: &mut File, len: u64, path: &Path) -> io::Result<u64> {
    let mut data = Vec::with_capacity(len as usize);
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut data)?;
    let mut end = 0;
    while end < data.len() {
        match zstd_safe::find_frame_compressed_size(&data[end..]) {
            Ok(size) if end + size <= data.len() => end += size,
            _ => break,
        }
    }
    if end == data.len() {
        return Ok(len);
    }
    // What the torn frame's complete blocks decode to, up to its last
    // whole line.
    let mut salvaged = Vec::new();
    let mut decoder = zstd::stream::read::Decoder::new(&data[end..])?;
    let _ = decoder.read_to_end(&mut salvaged);
    let whole = memchr::memrchr(b'\n', &salvaged).map_or(0, |i| i + 1);
    salvaged.truncate(whole);
    tracing::warn!(
        "cassette {}: cutting a torn last zstd frame ({} bytes, {} of its lines kept) before appending",
        path.display(),
        data.len() - end,
        salvaged.iter().filter(|&&b| b == b'\n').count()
    );
    file.set_len(end as u64)?;
    file.seek(SeekFrom::End(0))?;
    if salvaged.is_empty() {
        return Ok(end as u64);
    }
    file.write_all(FrameEncoder::new()?.frame(&salvaged)?)?;
    Ok(file.metadata()?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&str]) -> Vec<u8> {
        let mut enc = FrameEncoder::new().expect("encoder");
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(enc.frame(part.as_bytes()).expect("frame"));
        }
        out
    }

    fn read(path: &Path) -> (String, bool) {
        let mut r = CassetteReader::open(path).expect("open");
        let mut text = String::new();
        r.read_to_string(&mut text).expect("read");
        (text, r.torn())
    }

    #[test]
    fn frames_decode_as_one_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl.zst");
        std::fs::write(&path, frames(&["a\n", "b\nc\n"])).expect("write");
        assert_eq!(read(&path), ("a\nb\nc\n".into(), false));
    }

    #[test]
    fn a_torn_last_frame_ends_the_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl.zst");
        let whole = frames(&["a\n", "b\n"]);
        let first = frames(&["a\n"]).len();
        for cut in first..whole.len() {
            std::fs::write(&path, &whole[..cut]).expect("write");
            // What the torn frame's blocks held may come out, even part of
            // a line (a raw block streams out byte by byte); no more.
            let (text, torn) = read(&path);
            assert!(
                text.starts_with("a\n") && "a\nb\n".starts_with(&text),
                "{text:?}"
            );
            assert_eq!(torn, cut > first, "cut at {cut}");
        }
    }

    #[test]
    fn damage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl.zst");
        let mut data = frames(&["a line long enough to be worth it\n"; 3]);
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        std::fs::write(&path, &data).expect("write");
        let mut r = CassetteReader::open(&path).expect("open");
        let e = r.read_to_end(&mut Vec::new()).expect_err("damaged");
        assert!(e.to_string().starts_with("zstd: "), "{e}");
    }

    #[test]
    fn append_cuts_a_torn_frame_and_keeps_its_whole_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl.zst");
        // A frame big enough to have several blocks, torn in its last.
        let big: String = (0..40_000).map(|i| format!("line {i}\n")).collect();
        let mut data = frames(&["head\n", &big]);
        data.truncate(data.len() - 10);
        std::fs::write(&path, &data).expect("write");
        let (loaded, torn) = read(&path);
        assert!(torn && loaded.len() > 5);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .expect("open");
        let len = cut_torn_frame(&mut f, data.len() as u64, &path).expect("cut");
        let more = frames(&["more\n"]);
        f.write_all(&more).expect("append");
        let now = std::fs::metadata(&path).expect("stat").len();
        assert_eq!(len + more.len() as u64, now);
        let (text, torn) = read(&path);
        assert!(!torn);
        let whole = &loaded[..loaded.rfind('\n').expect("a line") + 1];
        assert_eq!(text, format!("{whole}more\n"));
    }
}
