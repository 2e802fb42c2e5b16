//! `resplay ctl`: the control API from the command line. Each subcommand
//! is one HTTP request (hyper's client, over one connection); the answer's
//! JSON goes to stdout, an error's message to stderr with exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use resplay::control::api::admin_addr;
use resplay::control::{Mode, ModeSpec};
use resplay::replay::Timing;

/// The flags of `resplay ctl`: which server, and the request to send it.
#[derive(Args)]
pub struct CtlArgs {
    /// The control API of the running resplay (its --admin): IP:PORT or
    /// PORT.
    #[arg(long, value_name = "ADDR", env = "RESPLAY_ADMIN")]
    admin: String,
    /// The control API's token (`--admin-token` of the server).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "RESPLAY_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    #[command(subcommand)]
    request: CtlRequest,
}

/// One request to the control API (see docs/control-api.md).
#[derive(Subcommand)]
enum CtlRequest {
    /// Mode, cassette, live connections, served/missed/unused so far.
    Status,
    /// Switch to record, replay, passthrough or idle (and swap the cassette).
    Mode {
        /// The new mode.
        #[arg(value_enum)]
        mode: Mode,
        /// The cassette to record to or replay (default: the one in use).
        #[arg(long)]
        cassette: Option<PathBuf>,
        /// Record: add to the cassette instead of starting it afresh.
        #[arg(long)]
        append: bool,
        /// Replay: send misses to the upstream and append them to the cassette.
        #[arg(long)]
        record_misses: bool,
        /// Replay: when this replay ends, write its HTML report to FILE.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Replay: when this replay ends without a miss, write the cassette
        /// without what it left unused to OUT.
        #[arg(long, value_name = "OUT")]
        write_pruned: Option<PathBuf>,
        /// Replay: an ignore rule for this mode, added to the server's (repeatable).
        #[arg(long = "ignore", value_name = "RULE")]
        ignore: Vec<String>,
        /// Replay: `recorded` keeps the recorded delays [default: the server's].
        #[arg(long, value_enum)]
        timing: Option<Timing>,
    },
    /// Close every client connection (after what it has in flight).
    Reset,
    /// Fault rules: list, add, remove, clear.
    #[command(subcommand)]
    Fault(FaultRequest),
    /// Send a message to the live subscribers of a channel.
    Publish {
        /// The channel.
        channel: String,
        /// The message.
        message: String,
        /// A shard channel (SSUBSCRIBE), not a plain one.
        #[arg(long)]
        shard: bool,
    },
    /// Send a client-side caching invalidation to clients tracking keys.
    Invalidate {
        /// The keys (none: every key, as after FLUSHALL).
        keys: Vec<String>,
    },
    /// Stubs replay answers with before the cassette: list, add, remove, clear.
    #[command(subcommand)]
    Stub(StubRequest),
    /// The calls the server received, with their replies (or --clear them).
    Journal {
        /// Only calls that fit this pattern, e.g. 'SET user:* ...' (the
        /// --ignore syntax; a bare name: any arguments).
        pattern: Option<String>,
        /// Only calls after this id.
        #[arg(long, value_name = "ID")]
        since: Option<u64>,
        /// Forget every call instead (answers the last id given).
        #[arg(long, conflicts_with_all = ["pattern", "since"])]
        clear: bool,
    },
}

/// The stub requests, under `resplay ctl stub` (see docs/stubs.md).
#[derive(Subcommand)]
enum StubRequest {
    /// The stubs, with how often each fitted and answered.
    List,
    /// Add a stub, e.g. 'GET user:{id} => "name-{id}"' --times 2.
    Add {
        /// PATTERN => REPLY (the reply as `resplay show` prints it).
        rule: String,
        /// Answer at most N calls.
        #[arg(long, value_name = "N")]
        times: Option<u64>,
        /// Answer only the K-th call that fits.
        #[arg(long, value_name = "K")]
        nth: Option<u64>,
        /// Wait this long before answering (50ms, 2s).
        #[arg(long, value_name = "DURATION")]
        delay: Option<String>,
        /// Only in this database.
        #[arg(long, value_name = "N")]
        db: Option<u32>,
    },
    /// Remove the stub with this id.
    Rm {
        /// Its id, as `add` and `list` print it.
        id: u64,
    },
    /// Remove every stub.
    Clear,
}

/// The fault-rule requests, under `resplay ctl fault`.
#[derive(Subcommand)]
enum FaultRequest {
    /// The rules, with how often each matched and fired.
    List,
    /// Add a rule, e.g. 'GET ... => error="LOADING Redis is loading the dataset in memory" count=2'.
    Add {
        /// PATTERN => ACTION [count=N] [after=N] [probability=P]
        rule: String,
    },
    /// Remove the rule with this id.
    Rm {
        /// Its id, as `add` and `list` print it.
        id: u64,
    },
    /// Remove every rule.
    Clear,
}

/// Sends the request; prints the answer.
pub async fn run(args: CtlArgs) -> Result<ExitCode> {
    let addr = admin_addr(&args.admin).map_err(anyhow::Error::msg)?;
    let (method, path, body) = match args.request {
        CtlRequest::Status => ("GET", "/status".to_string(), None),
        CtlRequest::Mode {
            mode,
            cassette,
            append,
            record_misses,
            ignore,
            timing,
            report,
            write_pruned,
        } => {
            // The server may run elsewhere: a relative path means ours.
            let absolute = |path: Option<PathBuf>| match path {
                Some(path) => std::path::absolute(&path)
                    .with_context(|| format!("cannot resolve {}", path.display()))
                    .map(Some),
                None => Ok(None),
            };
            let spec = ModeSpec {
                append,
                record_misses,
                ignore,
                timing,
                report: absolute(report)?,
                write_pruned: absolute(write_pruned)?,
                ..ModeSpec::new(mode, absolute(cassette)?)
            };
            (
                "POST",
                "/mode".to_string(),
                Some(serde_json::to_value(spec)?),
            )
        }
        CtlRequest::Reset => ("POST", "/reset".to_string(), None),
        CtlRequest::Fault(FaultRequest::List) => ("GET", "/faults".to_string(), None),
        CtlRequest::Fault(FaultRequest::Add { rule }) => {
            ("POST", "/faults".to_string(), Some(json!({ "rule": rule })))
        }
        CtlRequest::Fault(FaultRequest::Rm { id }) => ("DELETE", format!("/faults/{id}"), None),
        CtlRequest::Fault(FaultRequest::Clear) => ("DELETE", "/faults".to_string(), None),
        CtlRequest::Publish {
            channel,
            message,
            shard,
        } => {
            let body = json!({ "channel": channel, "message": message, "shard": shard });
            ("POST", "/publish".to_string(), Some(body))
        }
        CtlRequest::Invalidate { keys } => {
            let keys = if keys.is_empty() { None } else { Some(keys) };
            (
                "POST",
                "/invalidate".to_string(),
                Some(json!({ "keys": keys })),
            )
        }
        CtlRequest::Stub(StubRequest::List) => ("GET", "/stubs".to_string(), None),
        CtlRequest::Stub(StubRequest::Add {
            rule,
            times,
            nth,
            delay,
            db,
        }) => {
            let spec = resplay::stubs::StubSpec {
                times,
                nth,
                delay,
                db,
                ..resplay::stubs::StubSpec::line(&rule)
            };
            (
                "POST",
                "/stubs".to_string(),
                Some(serde_json::to_value(spec)?),
            )
        }
        CtlRequest::Stub(StubRequest::Rm { id }) => ("DELETE", format!("/stubs/{id}"), None),
        CtlRequest::Stub(StubRequest::Clear) => ("DELETE", "/stubs".to_string(), None),
        CtlRequest::Journal { clear: true, .. } => ("DELETE", "/journal".to_string(), None),
        CtlRequest::Journal { pattern, since, .. } => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            if let Some(pattern) = &pattern {
                query.append_pair("pattern", pattern);
            }
            if let Some(since) = since {
                query.append_pair("since", &since.to_string());
            }
            let query = query.finish();
            let path = if query.is_empty() {
                "/journal".to_string()
            } else {
                format!("/journal?{query}")
            };
            ("GET", path, None)
        }
    };
    let token = args.admin_token.as_deref().filter(|t| !t.is_empty());
    let (status, answer) = request(addr, token, method, &path, body).await?;
    if status.is_success() {
        if !answer.is_null() {
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let message = answer
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| answer.to_string());
    eprintln!("resplay ctl: {status}: {message}");
    Ok(ExitCode::FAILURE)
}

/// One HTTP/1.1 request; the status and the JSON answer (`null` when the
/// body is empty).
async fn request(
    addr: std::net::SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(hyper::StatusCode, Value)> {
    let stream = TcpStream::connect(addr).await.with_context(|| {
        format!("cannot reach the control API at {addr} (is resplay running with --admin {addr}?)")
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("control API handshake failed")?;
    tokio::spawn(conn);
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Full::new(Bytes::from(payload)))?;
    let response = sender
        .send_request(request)
        .await
        .context("control API request failed")?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if bytes.is_empty() {
        return Ok((status, Value::Null));
    }
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok((status, value)),
        Err(_) if !status.is_success() => {
            Ok((status, json!({ "error": String::from_utf8_lossy(&bytes) })))
        }
        Err(e) => bail!("the control API answered something that is not JSON: {e}"),
    }
}
