//! `GET /stubs`, `POST /stubs`, `DELETE /stubs[/{id}]`: the stubs replay
//! consults before the cassette (see [`crate::stubs`]), changed while the
//! server runs.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::steering::Steering;
use crate::stubs::StubSpec;

/// One stub, or several at once (a test's whole list).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum NewStubs {
    /// Several, added in order.
    Many(Vec<StubSpec>),
    /// One.
    One(StubSpec),
}

/// The stubs with how often each fitted and answered.
pub async fn list(State(steering): State<Steering>) -> Response {
    Json(steering.stubs().list()).into_response()
}

/// Adds one stub or a list; answers their ids. A list with a bad rule
/// adds none of it.
pub async fn add(
    State(steering): State<Steering>,
    body: Result<Json<NewStubs>, JsonRejection>,
) -> Response {
    let specs = match body {
        Ok(Json(NewStubs::Many(specs))) => specs,
        Ok(Json(NewStubs::One(spec))) => vec![spec],
        Err(e) => return refuse(e.status(), e.body_text()),
    };
    // Every rule is checked before any is added.
    if let Some(e) = specs
        .iter()
        .find_map(|s| crate::stubs::Stubs::default().add(s.clone()).err())
    {
        return refuse(StatusCode::BAD_REQUEST, e);
    }
    let stubs = steering.stubs();
    let ids: Vec<u64> = specs
        .into_iter()
        .filter_map(|spec| stubs.add(spec).ok())
        .collect();
    (StatusCode::CREATED, Json(json!({ "ids": ids }))).into_response()
}

/// Removes every stub.
pub async fn clear(State(steering): State<Steering>) -> Response {
    let cleared = steering.stubs().clear();
    Json(json!({ "cleared": cleared })).into_response()
}

/// Removes one stub.
pub async fn remove(State(steering): State<Steering>, Path(id): Path<u64>) -> Response {
    if steering.stubs().remove(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        refuse(StatusCode::NOT_FOUND, format!("no stub with id {id}"))
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
