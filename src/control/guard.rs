//! Who may drive the control API: the door a browser must not open.
//!
//! The API listens on loopback by default, and anything on the machine can
//! reach loopback, including a web page in the user's browser. Such a page
//! cannot read our answers (we send no CORS headers), but without these
//! checks it could still *send*: a cross-origin form post or a no-preflight
//! `fetch` switches modes or adds faults, and a DNS-rebinding page (its own
//! name resolved to 127.0.0.1) even reads answers as same-origin. So every
//! request is checked, before any route runs:
//! - `Host` must name this server (loopback names, its bound address, or a
//!   name allowed with `--admin-host`), with its port: a rebinding page
//!   sends its own name;
//! - `Origin`, when sent, must be this server's own (`http://` + `Host`), and
//!   `Sec-Fetch-Site`, when sent, same-origin (or `none`: typed by the user);
//! - a `POST` must say `Content-Type: application/json`: the only kinds a
//!   page may post without a CORS preflight are form and text kinds;
//! - with a token (`--admin-token`, `RESPLAY_ADMIN_TOKEN`), every route but
//!   the console's static page needs `Authorization: Bearer TOKEN`;
//! - `GET` and `HEAD` never change state (the routes are built that way).
//!
//! A listener beyond loopback without a token is refused before it binds
//! ([`check_exposure`]): authentication is what keeps other hosts out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The environment variable that carries the token, for `--admin-token`.
pub const TOKEN_ENV: &str = "RESPLAY_ADMIN_TOKEN";

/// The one path served without a token: the console's page, which holds
/// no data and asks the user for the token.
const OPEN_PATH: &str = "/ui";

/// Who may use one control API listener.
#[derive(Debug, Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The address the API is bound to (its port after binding).
    bound: SocketAddr,
    /// The bearer token every request needs, when set.
    token: Option<String>,
    /// Host names besides loopback's and the bound address (`--admin-host`),
    /// lower case.
    hosts: Vec<String>,
}

impl Guard {
    /// The guard of a listener bound to `bound` (with its real port).
    pub fn new(bound: SocketAddr, token: Option<String>, hosts: Vec<String>) -> Guard {
        Guard {
            inner: Arc::new(Inner {
                bound,
                token: token.filter(|t| !t.is_empty()),
                hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            }),
        }
    }

    /// Why `headers` (of a `method` request for `path`) may not use the API,
    /// as a status and a message; `None` when they may.
    fn refuse(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<(StatusCode, String)> {
        let host = match headers.get(header::HOST).map(|h| h.to_str()) {
            Some(Ok(host)) => host,
            _ => {
                return Some((
                    StatusCode::BAD_REQUEST,
                    "a Host header is required".to_string(),
                ))
            }
        };
        if !self.host_allowed(host) {
            return Some((
                StatusCode::FORBIDDEN,
                format!(
                    "Host '{host}' does not name this control API (it answers to \
                     127.0.0.1:{port}, localhost:{port}, [::1]:{port}{more}); a page \
                     on another name is refused (DNS rebinding). Allow a name with --admin-host",
                    port = self.inner.bound.port(),
                    more = self.more_hosts(),
                ),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = origin
                .to_str()
                .ok()
                .and_then(|o| o.strip_prefix("http://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !own {
                return Some((
                    StatusCode::FORBIDDEN,
                    format!(
                        "requests from origin '{}' are refused: only this API's own page may use it",
                        String::from_utf8_lossy(origin.as_bytes())
                    ),
                ));
            }
        }
        if let Some(site) = headers.get("sec-fetch-site") {
            if !matches!(site.as_bytes(), b"same-origin" | b"none") {
                return Some((
                    StatusCode::FORBIDDEN,
                    format!(
                        "a {} request is refused: only this API's own page may use it",
                        String::from_utf8_lossy(site.as_bytes())
                    ),
                ));
            }
        }
        if method == Method::POST && !is_json(headers) {
            return Some((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a POST must carry Content-Type: application/json".to_string(),
            ));
        }
        let open = path == OPEN_PATH && (method == Method::GET || method == Method::HEAD);
        if let (Some(token), false) = (&self.inner.token, open) {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match given {
                Some(given) if same_secret(given.trim().as_bytes(), token.as_bytes()) => {}
                Some(_) => {
                    return Some((StatusCode::UNAUTHORIZED, "wrong admin token".to_string()))
                }
                None => {
                    return Some((
                        StatusCode::UNAUTHORIZED,
                        format!(
                            "this control API needs its token: Authorization: Bearer TOKEN \
                             (resplay ctl reads --admin-token or {TOKEN_ENV})"
                        ),
                    ))
                }
            }
        }
        None
    }

    /// Whether `host` (a Host header: `name[:port]`) names this listener.
    fn host_allowed(&self, host: &str) -> bool {
        let (name, port) = split_host(host);
        if port.unwrap_or(80) != self.inner.bound.port() {
            return false;
        }
        let name = name.to_ascii_lowercase();
        let bound = self.inner.bound.ip();
        match name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            // Any address of this machine's interfaces, when bound to all of
            // them: a rebinding page sends a name, never an address.
            Ok(ip) => ip.is_loopback() || ip == bound || bound.is_unspecified(),
            Err(_) => name == "localhost" || self.inner.hosts.contains(&name),
        }
    }

    fn more_hosts(&self) -> String {
        let mut more = String::new();
        if !self.inner.bound.ip().is_loopback() {
            more.push_str(&format!(", {}", self.inner.bound));
        }
        for h in &self.inner.hosts {
            more.push_str(&format!(", {h}:{}", self.inner.bound.port()));
        }
        more
    }
}

/// `name[:port]`, with IPv6 in brackets.
fn split_host(host: &str) -> (&str, Option<u16>) {
    let port_at = match host.rfind(']') {
        Some(end) => host[end..].find(':').map(|i| end + i),
        None => host.rfind(':'),
    };
    match port_at {
        Some(at) => match host[at + 1..].parse() {
            Ok(port) => (&host[..at], Some(port)),
            // Not a port: no listener of ours answers to it.
            Err(_) => (host, Some(0)),
        },
        None => (host, None),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Compares without stopping at the first difference, so that the time an
/// answer takes says nothing about how much of a guess was right.
fn same_secret(given: &[u8], token: &[u8]) -> bool {
    if given.len() != token.len() {
        return false;
    }
    given
        .iter()
        .zip(token)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// The middleware: refuses what [`Guard`] does not let through, with a JSON
/// error like the routes' own.
pub async fn check(State(guard): State<Guard>, request: Request<Body>, next: Next) -> Response {
    match guard.refuse(request.method(), request.uri().path(), request.headers()) {
        None => next.run(request).await,
        Some((status, message)) => {
            let mut answer = (status, Json(json!({ "error": message }))).into_response();
            if status == StatusCode::UNAUTHORIZED {
                answer.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            answer
        }
    }
}

/// Refuses to serve the API on `addr` beyond loopback without a token:
/// anyone who can reach the port could steer the server.
pub fn check_exposure(addr: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if addr.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        return Ok(());
    }
    Err(format!(
        "refusing to serve the control API on {addr} without a token: other hosts could \
         steer this server. Pass --admin-token TOKEN (or set {TOKEN_ENV}), or listen on 127.0.0.1"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn local(token: Option<&str>) -> Guard {
        Guard::new(
            "127.0.0.1:7000".parse().unwrap(),
            token.map(str::to_string),
            vec!["devbox".into()],
        )
    }

    #[test]
    fn hosts_must_name_this_listener() {
        let g = local(None);
        for ok in [
            "127.0.0.1:7000",
            "localhost:7000",
            "[::1]:7000",
            "DevBox:7000",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:7000",
            "127.0.0.1:7001",
            "localhost",
            "10.0.0.5:7000",
            "[::1]:x",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        let all = Guard::new("0.0.0.0:7000".parse().unwrap(), Some("t".into()), vec![]);
        assert!(all.host_allowed("10.0.0.5:7000"));
        assert!(!all.host_allowed("evil.example:7000"));
    }

    #[test]
    fn origins_posts_and_tokens() {
        let g = local(Some("s3cret"));
        let get =
            |h: &[(&'static str, &str)], path: &str| g.refuse(&Method::GET, path, &headers(h));
        let host = ("host", "127.0.0.1:7000");
        let bearer = ("authorization", "Bearer s3cret");
        assert_eq!(get(&[host, bearer], "/status"), None);
        assert_eq!(get(&[host], "/status").unwrap().0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            get(&[host, ("authorization", "Bearer s3cres")], "/status")
                .unwrap()
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(get(&[host], "/ui"), None, "the page asks for the token");
        assert_eq!(
            get(
                &[host, bearer, ("origin", "http://evil.example")],
                "/status"
            )
            .unwrap()
            .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            get(&[host, bearer, ("origin", "null")], "/status")
                .unwrap()
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            get(
                &[host, bearer, ("origin", "http://127.0.0.1:7000")],
                "/status"
            ),
            None
        );
        assert_eq!(
            get(&[host, bearer, ("sec-fetch-site", "cross-site")], "/status")
                .unwrap()
                .0,
            StatusCode::FORBIDDEN
        );
        let post = |ct: &str| {
            g.refuse(
                &Method::POST,
                "/reset",
                &headers(&[host, bearer, ("content-type", ct)]),
            )
        };
        assert_eq!(post("application/json; charset=utf-8"), None);
        for form in [
            "application/x-www-form-urlencoded",
            "text/plain",
            "multipart/form-data",
        ] {
            assert_eq!(
                post(form).unwrap().0,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{form}"
            );
        }
        assert_eq!(
            g.refuse(&Method::POST, "/reset", &headers(&[host, bearer]))
                .unwrap()
                .0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn exposure_beyond_loopback_needs_a_token() {
        let any: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        assert!(check_exposure(any, None).is_err());
        assert!(check_exposure(any, Some("")).is_err());
        assert!(check_exposure(any, Some("t")).is_ok());
        assert!(check_exposure("127.0.0.1:7000".parse().unwrap(), None).is_ok());
        assert!(check_exposure("[::1]:7000".parse().unwrap(), None).is_ok());
    }
}
