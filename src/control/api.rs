//! The control API: small HTTP/JSON endpoints over a [`Steering`] server,
//! served by axum (`--admin ADDR`). Every endpoint has a curl example in
//! `docs/control-api.md`.
//!
//! Errors are JSON, `{"error": "…"}`, with a 4xx status that says whose
//! fault it was; the running mode is then unchanged.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

use super::guard::{self, Guard};
use super::mode::ModeSpec;
use super::steering::{SteerError, Steering};
use crate::fault::FaultRule;
use crate::server::inject::Injection;

/// An error answer.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<SteerError> for ApiError {
    fn from(e: SteerError) -> Self {
        let code = match e {
            SteerError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            SteerError::BadRequest(_) | SteerError::Cassette(_) => StatusCode::BAD_REQUEST,
        };
        ApiError(code, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError(e.status(), e.body_text())
    }
}

type Answer = Result<Response, ApiError>;

/// Who may use a control API listener (see [`super::guard`]).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The bearer token every request needs (`--admin-token`), if any.
    pub token: Option<String>,
    /// Host names the API answers to besides loopback's and its bound
    /// address (`--admin-host`).
    pub hosts: Vec<String>,
}

/// The routes, behind the guard, for tests and for embedding into another
/// server.
pub fn router(steering: Steering, guard: Guard) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/mode", post(switch_mode))
        .route("/reset", post(reset))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/faults/{id}", delete(delete_fault))
        .route("/publish", post(publish))
        .route("/invalidate", post(invalidate))
        .route(
            "/journal",
            get(super::journal::list).delete(super::journal::clear),
        )
        .route(
            "/stubs",
            get(super::stubs::list)
                .post(super::stubs::add)
                .delete(super::stubs::clear),
        )
        .route("/stubs/{id}", delete(super::stubs::remove))
        .route("/ui", get(super::ui::page))
        .route("/events", get(super::ui::events))
        .with_state(steering)
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}

/// Serves the API on `listener` until the steered server shuts down. A
/// listener beyond loopback needs a token ([`guard::check_exposure`]).
pub async fn serve_api(
    listener: TcpListener,
    steering: Steering,
    access: Access,
) -> std::io::Result<()> {
    let bound = listener.local_addr()?;
    guard::check_exposure(bound, access.token.as_deref())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))?;
    let guard = Guard::new(bound, access.token, access.hosts);
    let shutdown = steering.shutdown_token();
    axum::serve(listener, router(steering, guard))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Reads `--admin`: `HOST:PORT`, or a bare `PORT` on loopback.
pub fn admin_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("invalid admin address '{text}': expected HOST:PORT or PORT"))
}

async fn status(State(steering): State<Steering>) -> Answer {
    Ok(Json(steering.status()).into_response())
}

async fn switch_mode(
    State(steering): State<Steering>,
    body: Result<Json<ModeSpec>, JsonRejection>,
) -> Answer {
    let Json(spec) = body?;
    let previous = steering.switch(spec).await?;
    Ok(Json(json!({
        "previous": previous.to_string(),
        "status": steering.status(),
    }))
    .into_response())
}

async fn reset(State(steering): State<Steering>) -> Answer {
    let closed = steering.reset_connections();
    Ok(Json(json!({ "closed": closed })).into_response())
}

/// `POST /faults`'s body (public for the fuzz target, `fuzz/`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFault {
    /// `PATTERN => ACTION [count=N] [after=N] [probability=P]`.
    pub rule: String,
}

async fn list_faults(State(steering): State<Steering>) -> Answer {
    Ok(Json(steering.faults().list()).into_response())
}

async fn add_fault(
    State(steering): State<Steering>,
    body: Result<Json<NewFault>, JsonRejection>,
) -> Answer {
    let Json(new) = body?;
    let rule: FaultRule = new
        .rule
        .parse()
        .map_err(|e: crate::fault::FaultRuleError| {
            ApiError(StatusCode::BAD_REQUEST, e.to_string())
        })?;
    let text = rule.to_string();
    let id = steering.faults().add(rule);
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "rule": text }))).into_response())
}

async fn delete_fault(State(steering): State<Steering>, Path(id): Path<u64>) -> Answer {
    if steering.faults().remove(id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no fault rule with id {id}"),
        ))
    }
}

async fn clear_faults(State(steering): State<Steering>) -> Answer {
    let cleared = steering.faults().list().len();
    steering.faults().clear();
    Ok(Json(json!({ "cleared": cleared })).into_response())
}

/// `POST /publish`'s body (public for the fuzz target, `fuzz/`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// The channel.
    pub channel: String,
    /// The message.
    pub message: String,
    /// A sharded channel's message (`SPUBLISH`).
    #[serde(default)]
    pub shard: bool,
}

#[derive(Serialize)]
struct Receivers {
    receivers: u64,
}

async fn publish(
    State(steering): State<Steering>,
    body: Result<Json<Publish>, JsonRejection>,
) -> Answer {
    let Json(publish) = body?;
    let receivers = steering
        .inject(Injection::Message {
            channel: Bytes::from(publish.channel),
            message: Bytes::from(publish.message),
            shard: publish.shard,
        })
        .await;
    Ok(Json(Receivers { receivers }).into_response())
}

/// `POST /invalidate`'s body (public for the fuzz target, `fuzz/`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invalidate {
    /// The keys; `null` (or left out) invalidates every key.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
}

async fn invalidate(
    State(steering): State<Steering>,
    body: Result<Json<Invalidate>, JsonRejection>,
) -> Answer {
    let Json(invalidate) = body?;
    let keys = invalidate
        .keys
        .map(|keys| keys.into_iter().map(Bytes::from).collect());
    let receivers = steering.inject(Injection::Invalidate { keys }).await;
    Ok(Json(Receivers { receivers }).into_response())
}
