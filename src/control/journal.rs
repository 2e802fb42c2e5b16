//! `GET /journal` and `DELETE /journal`: the calls the server received
//! (see [`crate::journal`]), for a test to assert on, and the reset a test
//! session does between two tests.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::steering::Steering;
use crate::journal::Query;

/// `GET /journal?pattern=SET+user:*+...&since=ID`: the calls after `ID`
/// that fit the pattern (both optional).
pub async fn list(State(steering): State<Steering>, RawQuery(raw): RawQuery) -> Response {
    if let Some(off) = off(&steering) {
        return off;
    }
    let mut pattern = None;
    let mut since = None;
    for (key, value) in url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        match &*key {
            "pattern" => pattern = Some(value.into_owned()),
            "since" => match value.parse::<u64>() {
                Ok(id) => since = Some(id),
                Err(_) => return refuse(format!("since={value}: expected a call id")),
            },
            other => return refuse(format!("unknown parameter '{other}' (pattern, since)")),
        }
    }
    match Query::new(pattern.as_deref(), since) {
        Ok(query) => Json(steering.journal().query(&query)).into_response(),
        Err(e) => refuse(e.to_string()),
    }
}

/// `DELETE /journal`: forgets every call; answers how many, and the last
/// id given (a later `since=` it lists only calls made after the clear).
pub async fn clear(State(steering): State<Steering>) -> Response {
    if let Some(off) = off(&steering) {
        return off;
    }
    let (cleared, last) = steering.journal().clear();
    Json(json!({ "cleared": cleared, "last": last })).into_response()
}

/// The answer when the journal keeps nothing (`--journal-max` not given):
/// an error that says how to turn it on, rather than an empty list a test
/// would read as "no calls".
fn off(steering: &Steering) -> Option<Response> {
    (steering.journal().max() == 0).then(|| {
        let message = "the journal is off: start resplay with --journal-max N (or journal_max \
                       in the config file) to keep the last N calls";
        (StatusCode::CONFLICT, Json(json!({ "error": message }))).into_response()
    })
}

fn refuse(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}
