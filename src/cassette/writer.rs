//! The single cassette writer.
//!
//! Sessions hand over finished lines ([`WriterHandle`]): one event, or all
//! the events one read of a session completed, already serialized by the
//! session (so that work is spread over the sessions). They are appended to
//! one shared buffer under a short lock; the first lines into an empty
//! buffer wake the writer task, later ones just join them, so a busy
//! recorder costs one wake-up and one `write` per batch, not per event, and
//! no allocation per message. The task takes the whole buffer and hands it
//! to the OS with a single `write`. There is no user-space buffer left
//! behind, so a `kill -9` of the recorder loses only what was still queued,
//! and the file ends in complete lines (or, at worst, one partial last line
//! that the reader skips with a warning).
//!
//! A compressed cassette (`.zst`, see [`super::compress`]) gets one zstd
//! frame per batch, written the same way: a `kill -9` leaves complete
//! frames and at worst one torn last frame, which the reader reads up to
//! its last whole line.
//!
//! When writing fails mid-run (disk full), the error is logged once and the
//! task keeps taking and counting the events it drops: the proxy's traffic
//! must keep flowing, and senders must never wait on a dead disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::{oneshot, Notify};

use super::compress::{self, FrameEncoder};
use super::error::{io_message, CassetteError};
use super::event::{Event, Header};

/// How many bytes of lines may wait for the writer before senders wait in
/// turn: a writer stalled on a slow disk holds back the traffic instead of
/// growing the recorder's memory. A message larger than this waits for an
/// empty queue.
pub const QUEUE_BYTES: usize = 8 << 20;

/// A batch buffer that grew past this (a burst of large replies) is let go
/// once written, so the recorder does not keep its peak size for good.
const KEEP_BUFFER_BYTES: usize = 4 << 20;

/// What sessions and the writer task share.
#[derive(Debug)]
struct Queue {
    lines: Mutex<Queued>,
    /// Wakes the writer: lines arrived in an empty queue, or the last
    /// handle is gone.
    ready: Notify,
    /// Wakes senders waiting for room: the writer took the queue, or ended.
    room: Notify,
    /// Events that could not be delivered because the writer is gone.
    lost: AtomicU64,
    /// The first write error, once there is one: a recorder told to stop
    /// on it (`--on-write-error stop`) reads it to refuse new traffic.
    failure: OnceLock<String>,
}

/// The lines waiting for the writer.
#[derive(Debug, Default)]
struct Queued {
    /// Complete lines, each ending in `\n`, in the order they were sent.
    text: Vec<u8>,
    /// How many events `text` holds.
    events: u64,
    /// Every handle is dropped: the writer writes what is left and ends.
    senders_gone: bool,
    /// The writer task ended: lines sent now are counted lost.
    writer_gone: bool,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            lines: Mutex::new(Queued::default()),
            ready: Notify::new(),
            room: Notify::new(),
            lost: AtomicU64::new(0),
            failure: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queued> {
        // A poisoned lock means a bug already panicked elsewhere; the
        // buffer holds whole lines either way.
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `text` if there is room (or the writer is gone, where it is
    /// counted lost); false when the sender must wait for room.
    fn try_push(&self, text: &[u8], events: u64) -> bool {
        let mut queued = self.lock();
        if queued.writer_gone {
            drop(queued);
            self.lost.fetch_add(events, Ordering::Relaxed);
            return true;
        }
        let was_empty = queued.text.is_empty();
        if !was_empty && queued.text.len() + text.len() > QUEUE_BYTES {
            return false;
        }
        queued.text.extend_from_slice(text);
        queued.events += events;
        drop(queued);
        // Lines already waiting mean the writer was woken for them and has
        // not taken them yet: it takes these too.
        if was_empty {
            self.ready.notify_one();
        }
        true
    }
}

/// How to treat an existing file at the cassette path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Truncate (or create) and write a new header.
    Create,
    /// Add events to an existing cassette without a new header; a missing
    /// or empty file is created as with `Create`. A partial last line left
    /// by a killed recorder is cut off first, so new lines start clean (in
    /// a compressed cassette, a torn last frame, its whole lines kept).
    /// The existing header is not checked: load the cassette first.
    Append,
    /// Write to `<name>.partial` next to the target and rename it over the
    /// target only when [`WriterTask::finish`] succeeds: a killed or failed
    /// run leaves the old cassette untouched.
    Atomic,
}

/// Namespace for [`CassetteWriter::open`].
#[derive(Debug)]
pub struct CassetteWriter;

impl CassetteWriter {
    /// Same as [`open`].
    pub async fn open(
        path: &Path,
        header: &Header,
        mode: WriteMode,
    ) -> Result<(WriterHandle, WriterTask), CassetteError> {
        open(path, header, mode).await
    }
}

/// A cheap, cloneable way for sessions to hand events to the writer.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    senders: Arc<Senders>,
}

/// Shared by a writer's handles: when the last one goes, the writer writes
/// what is left and ends.
#[derive(Debug)]
struct Senders(Arc<Queue>);

impl Drop for Senders {
    fn drop(&mut self) {
        self.0.lock().senders_gone = true;
        self.0.ready.notify_one();
    }
}

impl WriterHandle {
    /// The first error writing the cassette (`cannot write cassette PATH:
    /// CAUSE`), once one happened: from then on every event is lost.
    /// One atomic load.
    pub fn failure(&self) -> Option<&str> {
        self.senders.0.failure.get().map(String::as_str)
    }

    /// Queues an event for writing. Waits while the queue is full; if the
    /// writer has stopped, the event is counted as lost (never a panic).
    pub async fn send(&self, ev: Event) {
        let mut text = Vec::new();
        ev.write_line(&mut text);
        self.send_lines(&text, 1).await;
    }

    /// Queues `events` events already written as complete lines (each with
    /// its `\n`) in `text`, in order and together: a pipeline's replies
    /// arrive together, and they cost one lock and at most one wake-up.
    /// The bytes are copied, so the caller keeps its buffer for the next.
    pub async fn send_lines(&self, text: &[u8], events: u64) {
        if events == 0 {
            return;
        }
        let queue = &self.senders.0;
        // The common case takes no waiter registration: there is room.
        if queue.try_push(text, events) {
            return;
        }
        loop {
            // Registered before the check, so room freed in between is
            // not missed.
            let room = queue.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if queue.try_push(text, events) {
                return;
            }
            room.await;
        }
    }
}

/// The running writer; [`finish`](WriterTask::finish) ends it.
#[derive(Debug)]
pub struct WriterTask {
    /// The thread's result, sent when every handle is gone and the file is
    /// synced.
    done: oneshot::Receiver<Outcome>,
    /// Shared with the handles (events sent after the writer stopped).
    queue: Arc<Queue>,
    /// For [`WriteMode::Atomic`]: `(temporary file, target)`.
    commit: Option<(PathBuf, PathBuf)>,
}

/// What a writer did, for the end-of-run report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterStats {
    /// Events known to be written.
    pub written: u64,
    /// Events dropped: after a write error, or sent once the writer was gone.
    pub lost: u64,
    /// The first error (write, sync or rename), as a readable line.
    pub error: Option<String>,
}

/// The writer thread's report.
#[derive(Debug)]
struct Outcome {
    written: u64,
    lost: u64,
    error: Option<String>,
}

/// Opens the cassette and starts the writer thread.
///
/// Problems opening the file (missing directory, no permission) come back
/// here, with the path, so the CLI can refuse to start.
pub async fn open(
    path: &Path,
    header: &Header,
    mode: WriteMode,
) -> Result<(WriterHandle, WriterTask), CassetteError> {
    let mut head = Vec::new();
    header.write_line(&mut head);
    let target = path.to_path_buf();
    let opened = {
        let target = target.clone();
        tokio::task::spawn_blocking(move || open_file(&target, &head, mode))
            .await
            .map_err(|e| CassetteError::Write {
                path: path.to_path_buf(),
                cause: io::Error::other(format!("opening task failed: {e}")),
            })??
    };
    let (file, write_path) = opened;
    let compressed = compress::is_compressed(&target);
    let commit = (mode == WriteMode::Atomic).then(|| (write_path.clone(), target.clone()));

    let (done_tx, done_rx) = oneshot::channel();
    let queue = Arc::new(Queue::new());
    let writer_queue = Arc::clone(&queue);
    tokio::spawn(async move {
        let outcome = run_task(file, writer_queue, write_path, compressed).await;
        // Nobody waiting means the task was dropped without `finish`;
        // the lines are on disk either way.
        let _ = done_tx.send(outcome);
    });

    Ok((
        WriterHandle {
            senders: Arc::new(Senders(Arc::clone(&queue))),
        },
        WriterTask {
            done: done_rx,
            queue,
            commit,
        },
    ))
}

impl WriterTask {
    /// Waits until every [`WriterHandle`] is dropped and all queued events
    /// are written, syncs the file to disk and, for [`WriteMode::Atomic`],
    /// renames it over the target (only if nothing failed; otherwise the
    /// temporary file is removed and the old cassette stays).
    pub async fn finish(self) -> WriterStats {
        self.end(true).await
    }

    /// Like [`finish`](WriterTask::finish), but for [`WriteMode::Atomic`]
    /// the new cassette is thrown away and the old one stays (`resplay run`
    /// when the wrapped command failed). Other modes keep what was written.
    pub async fn discard(self) -> WriterStats {
        self.end(false).await
    }

    async fn end(self, commit: bool) -> WriterStats {
        let outcome = self.done.await.unwrap_or_else(|_| Outcome {
            written: 0,
            lost: 0,
            error: Some("cassette writer thread stopped unexpectedly".into()),
        });
        let mut stats = WriterStats {
            written: outcome.written,
            lost: outcome.lost + self.queue.lost.load(Ordering::Relaxed),
            error: outcome.error,
        };
        if let Some((temp, target)) = self.commit {
            if !commit {
                let _ = tokio::fs::remove_file(&temp).await;
                return stats;
            }
            if stats.error.is_none() {
                if let Err(e) = tokio::fs::rename(&temp, &target).await {
                    stats.error = Some(format!(
                        "cannot write cassette {}: rename from {} failed: {}",
                        target.display(),
                        temp.display(),
                        io_message(&e)
                    ));
                }
            }
            if let Some(err) = &mut stats.error {
                // Best effort: the partial file is useless and may fill a disk.
                let _ = tokio::fs::remove_file(&temp).await;
                err.push_str(&format!("; {} was left unchanged", target.display()));
            }
        }
        stats
    }
}

/// Opens the file for `mode`, writing the header when a new cassette starts
/// (compressed when the target's name says so). Returns the file and the
/// path actually written to.
fn open_file(
    target: &Path,
    head: &[u8],
    mode: WriteMode,
) -> Result<(File, PathBuf), CassetteError> {
    let fail = |cause: io::Error| CassetteError::Write {
        path: target.to_path_buf(),
        cause,
    };
    let zstd = compress::is_compressed(target);
    match mode {
        WriteMode::Create => create(target, head, zstd)
            .map(|f| (f, target.to_path_buf()))
            .map_err(fail),
        WriteMode::Append => append(target, head, zstd)
            .map(|f| (f, target.to_path_buf()))
            .map_err(fail),
        WriteMode::Atomic => {
            if target.is_dir() {
                return Err(fail(io::Error::other("is a directory")));
            }
            let name = target
                .file_name()
                .ok_or_else(|| fail(io::Error::other("not a file name")))?;
            let mut partial = name.to_os_string();
            partial.push(".partial");
            let temp = target.with_file_name(partial);
            create(&temp, head, zstd).map(|f| (f, temp)).map_err(fail)
        }
    }
}

/// Truncates or creates `path` and writes the header (as a frame of its
/// own when `zstd`).
fn create(path: &Path, head: &[u8], zstd: bool) -> io::Result<File> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    write_head(&mut f, head, zstd)?;
    Ok(f)
}

fn write_head(f: &mut File, head: &[u8], zstd: bool) -> io::Result<()> {
    if zstd {
        f.write_all(FrameEncoder::new()?.frame(head)?)
    } else {
        f.write_all(head)
    }
}

/// Opens an existing cassette for appending (see [`WriteMode::Append`]).
fn append(path: &Path, head: &[u8], zstd: bool) -> io::Result<File> {
    let mut f = match OpenOptions::new().read(true).append(true).open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return create(path, head, zstd),
        other => other?,
    };
    let mut len = f.metadata()?.len();
    if zstd && len > 0 {
        len = compress::cut_torn_frame(&mut f, len, path)?;
    }
    if len == 0 {
        write_head(&mut f, head, zstd)?;
        return Ok(f);
    }
    if zstd {
        return Ok(f);
    }
    match last_newline(&mut f, len)? {
        Some(at) if at + 1 == len => {}
        Some(at) => {
            tracing::warn!(
                "cassette {}: cutting a partial last line ({} bytes) before appending",
                path.display(),
                len - at - 1
            );
            f.set_len(at + 1)?;
        }
        None => {
            // Not even a whole header line: start the cassette over.
            f.set_len(0)?;
            f.write_all(head)?;
        }
    }
    Ok(f)
}

/// The offset of the last `\n` in the file, reading backwards in blocks.
fn last_newline(f: &mut File, len: u64) -> io::Result<Option<u64>> {
    let mut block = vec![0u8; 64 * 1024];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

/// Appends lines to the file, batching whatever is queued.
struct LineWriter<'p> {
    file: File,
    /// For a compressed cassette: makes each batch a frame.
    encoder: Option<FrameEncoder>,
    path: &'p Path,
    written: u64,
    lost: u64,
    error: Option<String>,
}

impl<'p> LineWriter<'p> {
    fn new(file: File, encoder: Option<FrameEncoder>, path: &'p Path) -> Self {
        LineWriter {
            file,
            encoder,
            path,
            written: 0,
            lost: 0,
            error: None,
        }
    }

    /// Writes one batch of `events` events, whole lines, in one write
    /// (one frame, compressed).
    fn write_batch(&mut self, text: &[u8], events: u64) {
        if self.error.is_some() {
            self.lost += events;
            return;
        }
        let written = match &mut self.encoder {
            None => self.file.write_all(text),
            Some(encoder) => encoder
                .frame(text)
                .and_then(|frame| self.file.write_all(frame)),
        };
        match written {
            Ok(()) => self.written += events,
            Err(e) => {
                let msg = format!(
                    "cannot write cassette {}: {}",
                    self.path.display(),
                    io_message(&e)
                );
                tracing::error!("{msg}; recording continues without saving");
                self.error = Some(msg);
                self.lost += events;
            }
        }
    }

    /// Reports a writer that could not start: nothing is written.
    fn failed(mut self, error: String) -> Outcome {
        tracing::error!("{error}; recording continues without saving");
        self.error = Some(error);
        self.finish()
    }

    /// Syncs the file and reports.
    fn finish(mut self) -> Outcome {
        if self.error.is_none() {
            if let Err(e) = self.file.sync_all() {
                self.error = Some(format!(
                    "cannot write cassette {}: sync failed: {}",
                    self.path.display(),
                    io_message(&e)
                ));
            }
        }
        Outcome {
            written: self.written,
            lost: self.lost,
            error: self.error,
        }
    }
}

/// The writer loop as a task on the runtime. Appending a batch to a local
/// file is a short, non-blocking-in-practice `write`; running it here rather
/// than on a thread of its own saves a thread wake-up (futex and context
/// switch) per batch, the largest recording cost at pipeline depth 1. The
/// final `fsync`, which can take long, runs on the blocking pool.
async fn run_task(file: File, queue: Arc<Queue>, path: PathBuf, compressed: bool) -> Outcome {
    /// However the task ends, senders stop waiting for it: what they send
    /// from then on, and what is still queued, is counted lost.
    struct GoneOnDrop(Arc<Queue>);
    impl Drop for GoneOnDrop {
        fn drop(&mut self) {
            let mut queued = self.0.lock();
            queued.writer_gone = true;
            let left = std::mem::take(&mut queued.events);
            queued.text = Vec::new();
            drop(queued);
            self.0.lost.fetch_add(left, Ordering::Relaxed);
            self.0.room.notify_waiters();
        }
    }
    let queue = GoneOnDrop(queue);
    let queue = &queue.0;
    let encoder = match compressed.then(FrameEncoder::new).transpose() {
        Ok(encoder) => encoder,
        Err(e) => {
            let error = format!("cannot write cassette {}: {e}", path.display());
            let _ = queue.failure.set(error.clone());
            return LineWriter::new(file, None, &path).failed(error);
        }
    };
    let mut writer = LineWriter::new(file, encoder, &path);
    // Swapped with the queue's buffer: the two take turns, so neither is
    // allocated again while the recorder runs.
    let mut batch = Vec::with_capacity(64 * 1024);
    loop {
        let (events, senders_gone) = {
            let mut queued = queue.lock();
            std::mem::swap(&mut queued.text, &mut batch);
            (std::mem::take(&mut queued.events), queued.senders_gone)
        };
        if events > 0 {
            queue.room.notify_waiters();
            writer.write_batch(&batch, events);
            if let (Some(error), None) = (&writer.error, queue.failure.get()) {
                let _ = queue.failure.set(error.clone());
            }
            batch.clear();
            if batch.capacity() > KEEP_BUFFER_BYTES {
                batch = Vec::with_capacity(64 * 1024);
            }
            continue;
        }
        if senders_gone {
            break;
        }
        queue.ready.notified().await;
        // Let the sessions that are ready run first: under load they add
        // their events to this batch, so one `write` carries many lines
        // instead of one each. No time passes waiting; nothing is held back.
        tokio::task::yield_now().await;
    }
    let LineWriter {
        file,
        written,
        lost,
        error,
        ..
    } = writer;
    let path_for_sync = path.clone();
    tokio::task::spawn_blocking(move || {
        LineWriter {
            file,
            encoder: None,
            path: &path_for_sync,
            written,
            lost,
            error,
        }
        .finish()
    })
    .await
    .unwrap_or_else(|e| Outcome {
        written,
        lost,
        error: Some(format!(
            "cannot write cassette {}: sync task failed: {e}",
            path.display()
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::event::{ConnState, ConnectionEvent};

    fn header() -> Header {
        Header {
            version: 1,
            created: "2026-11-21T10:00:00Z".into(),
            upstream: None,
            server_version: None,
            hello: None,
            db: None,
            listen: None,
            tls: false,
            redact_salt: None,
            cluster: None,
            excluded: Vec::new(),
        }
    }

    fn open_ev(conn: u64) -> Event {
        Event::Connection(ConnectionEvent {
            conn,
            at_ms: 0,
            event: ConnState::Open,
            by_server: false,
            node: None,
        })
    }

    #[tokio::test]
    async fn writes_header_then_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl");
        let (h, task) = open(&path, &header(), WriteMode::Create)
            .await
            .expect("open");
        for conn in 1..=3 {
            h.send(open_ev(conn)).await;
        }
        drop(h);
        let stats = task.finish().await;
        assert_eq!(
            stats,
            WriterStats {
                written: 3,
                lost: 0,
                error: None
            }
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 4);
        assert!(text.starts_with("{\"resplay\":1,"));
    }

    #[tokio::test]
    async fn append_cuts_a_partial_last_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, "{\"resplay\":1}\n{\"conn\":1,\"at_ms\"").expect("seed");
        let (h, task) = open(&path, &header(), WriteMode::Append)
            .await
            .expect("open");
        h.send(open_ev(2)).await;
        drop(h);
        assert_eq!(task.finish().await.error, None);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "{\"resplay\":1}\n{\"conn\":2,\"at_ms\":0,\"event\":\"open\"}\n"
        );
    }

    /// A `.zst` cassette is frames from the header on; appending adds
    /// frames, after cutting a torn one, and everything loads as one text.
    #[tokio::test]
    async fn compressed_cassettes_are_frames_and_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl.zst");
        let (h, task) = open(&path, &header(), WriteMode::Create)
            .await
            .expect("open");
        for conn in 1..=3 {
            h.send(open_ev(conn)).await;
        }
        drop(h);
        assert_eq!(task.finish().await.error, None);
        let data = std::fs::read(&path).expect("read");
        assert_eq!(&data[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
        let whole = data.len();
        // A torn frame (its first bytes) as a killed recorder leaves it.
        let mut torn = data.clone();
        torn.extend_from_slice(&data[..7]);
        std::fs::write(&path, &torn).expect("tear");
        let loaded = crate::cassette::load(&path).expect("loads torn");
        assert_eq!(loaded.events.len(), 3);
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("c.jsonl.zst: torn last zstd frame"));
        let (h, task) = open(&path, &header(), WriteMode::Append)
            .await
            .expect("open");
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len() as usize,
            whole
        );
        h.send(open_ev(4)).await;
        drop(h);
        assert_eq!(task.finish().await.error, None);
        let loaded = crate::cassette::load(&path).expect("loads");
        assert_eq!(loaded.header, header());
        assert!(loaded.warnings.is_empty());
        let conns: Vec<u64> = loaded.events.iter().map(Event::conn).collect();
        assert_eq!(conns, [1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn queue_room_is_given_back_once_lines_are_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl");
        let (h, task) = open(&path, &header(), WriteMode::Create)
            .await
            .expect("open");
        // Each message takes over half the queue; one larger than all of it
        // still goes through. Without room coming back this would hang.
        let sizes = [QUEUE_BYTES / 2 + 1, QUEUE_BYTES / 2 + 1, QUEUE_BYTES * 2];
        let sending = async {
            for size in sizes {
                let mut line = vec![b'x'; size - 1];
                line.push(b'\n');
                h.send_lines(&line, 1).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), sending)
            .await
            .expect("senders got room back");
        drop(h);
        let stats = task.finish().await;
        assert_eq!((stats.written, stats.lost), (3, 0));
        let len = std::fs::metadata(&path).expect("cassette").len() as usize;
        assert_eq!(len, header_len() + sizes.iter().sum::<usize>());
    }

    fn header_len() -> usize {
        let mut head = Vec::new();
        header().write_line(&mut head);
        head.len()
    }

    #[tokio::test]
    async fn send_after_the_writer_is_gone_counts_a_loss() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl");
        let (h, task) = open(&path, &header(), WriteMode::Create)
            .await
            .expect("open");
        // Simulate a writer that died, as its task's end marks it.
        h.senders.0.lock().writer_gone = true;
        h.send(open_ev(1)).await;
        drop(h);
        let stats = task.finish().await;
        assert_eq!((stats.written, stats.lost), (0, 1));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn disk_full_keeps_consuming_and_counts_losses() {
        // /dev/full accepts opens and fails every write with ENOSPC.
        let path = Path::new("/dev/full");
        if !path.exists() {
            return;
        }
        let (file, _) = match open_file(path, b"", WriteMode::Append) {
            Ok(f) => f,
            Err(_) => return,
        };
        let queue = Arc::new(Queue::new());
        let writer = tokio::spawn(run_task(
            file,
            Arc::clone(&queue),
            path.to_path_buf(),
            false,
        ));
        let handle = WriterHandle {
            senders: Arc::new(Senders(queue)),
        };
        for conn in 0..10 {
            handle.send(open_ev(conn)).await;
        }
        drop(handle);
        let outcome = writer.await.expect("writer task");
        assert_eq!(outcome.written, 0);
        assert_eq!(outcome.lost, 10);
        let err = outcome.error.expect("an error");
        assert!(
            err.contains("/dev/full") && err.contains("No space left"),
            "{err}"
        );
    }
}
