//! The web console: its page (`GET /ui`) and the live tail it shows
//! (`GET /events`).
//!
//! The page is one document built into the binary, its style and script
//! inline, so that it loads nothing from anywhere (no CDN, no network) and
//! the guard needs to let only `/ui` through without a token: the page
//! holds no data, and asks for the token when the API answers 401. Its
//! `Content-Security-Policy` names the inline style and script by their
//! SHA-256, and lets the page talk to this server only.
//!
//! Everything the page shows or changes goes through the JSON API that
//! `resplay ctl` uses: there is no second way in.
//!
//! `/events` is a server-sent event stream (`text/event-stream`) of the
//! [`Tail`](super::tail::Tail): `ready` once watching, an `interaction` per
//! [`TailEvent`](super::tail::TailEvent) as JSON, and `dropped` with the
//! count when this watcher fell behind and lost some. The page reads it
//! with `fetch()` and a stream reader rather than `EventSource`, which
//! cannot send the `Authorization` header.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::steering::Steering;
use super::tail::{Seen, Watch};

const HTML: &str = include_str!("assets/console.html");
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The page, with its style and script in place, and the policy that
/// allows exactly those.
struct Page {
    html: String,
    policy: String,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| {
    let html = HTML
        .replacen("/*STYLE*/", CSS, 1)
        .replacen("/*SCRIPT*/", JS, 1);
    let policy = format!(
        "default-src 'none'; style-src '{}'; script-src '{}'; connect-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        sha256(CSS),
        sha256(JS)
    );
    Page { html, policy }
});

fn sha256(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// `GET /ui`: the console's page. It holds no data: the guard serves it
/// without the token, so that the page can ask for one.
pub async fn page() -> Response {
    let page = &*PAGE;
    let mut response = page.html.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&page.policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A comment line sent when nothing else was for this long, so that
/// proxies and the page's reader see the stream is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Chunks queued for one watcher's HTTP connection. Small: a client that
/// reads slowly makes the tail, not this queue, drop events, and the tail
/// says how many.
const QUEUED_CHUNKS: usize = 16;

/// `GET /events`: the live tail as server-sent events, until the client
/// goes or the server shuts down.
pub async fn events(State(steering): State<Steering>) -> Response {
    // Watching from here: nothing handled after the answer starts is lost.
    let watch = steering.tail().watch();
    let (chunks, body) = mpsc::channel(QUEUED_CHUNKS);
    tokio::spawn(forward(watch, chunks, steering.shutdown_token()));
    let mut response = (StatusCode::OK, Body::new(EventBody(body))).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Moves one watcher's events to its HTTP connection, as event-stream
/// text. Ends when the connection is gone (the body, and so the queue's
/// receiver, dropped) or the server shuts down; the watch ends with it.
async fn forward(mut watch: Watch, chunks: mpsc::Sender<Bytes>, shutdown: CancellationToken) {
    let mut next = Bytes::from_static(b"event: ready\ndata: {}\n\n");
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    loop {
        tokio::select! {
            sent = chunks.send(next) => if sent.is_err() { return },
            () = shutdown.cancelled() => return,
        }
        next = tokio::select! {
            seen = watch.next() => sse(&seen),
            _ = beat.tick() => Bytes::from_static(b": keep-alive\n\n"),
            () = chunks.closed() => return,
            () = shutdown.cancelled() => return,
        };
        beat.reset();
    }
}

/// One event in event-stream form (JSON has no raw newline to split).
fn sse(seen: &Seen) -> Bytes {
    let (name, data) = match seen {
        Seen::Event(event) => ("interaction", serde_json::to_string(&**event)),
        Seen::Dropped(n) => ("dropped", Ok(json!({ "dropped": n }).to_string())),
    };
    let data = data.unwrap_or_else(|e| json!({ "error": e.to_string() }).to_string());
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The response body of `/events`: the chunks [`forward`] queues.
struct EventBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_its_style_and_script_and_a_policy_naming_them() {
        let page = &*PAGE;
        assert!(!page.html.contains("/*STYLE*/") && !page.html.contains("/*SCRIPT*/"));
        assert!(page.html.contains(CSS) && page.html.contains(JS));
        // Nothing from elsewhere: no remote script, style or font.
        for remote in ["http://", "https://", "//cdn"] {
            assert!(!page.html.contains(remote), "{remote} in the page");
        }
        assert!(page.policy.contains(&sha256(JS)));
        assert!(page.policy.contains("connect-src 'self'"));
        // The script cannot end its own element early.
        assert!(!JS.contains("</script"));
    }

    #[test]
    fn events_are_framed_as_server_sent_events() {
        let dropped = sse(&Seen::Dropped(3));
        assert_eq!(&dropped[..], b"event: dropped\ndata: {\"dropped\":3}\n\n");
    }
}
