//! The `--config FILE` TOML file.
//!
//! Its keys mirror the options of the Java seed proxy ("The Protocol
//! Master"), so a team moving over can translate its settings one for one;
//! `examples/resplay.toml` lists them all with the seed's name for each.
//! Every key is optional, unknown keys are errors (a misspelt key silently
//! ignored is a test that silently does something else), and command-line
//! flags override the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::fault::FaultRule;
use crate::record::OnWriteError;
use crate::replay::{IgnoreRule, OnMiss, Timing};
use crate::server::output_limit::{parse_size, PubsubLimit};

/// A parsed config file. `None` (or an empty list) means the key was absent,
/// so the flag or the built-in default decides. `Debug` masks the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`--listen`); the seed's `port`.
    pub listen: Option<String>,
    /// The real Redis (`--upstream`); the seed's `connectionString`.
    pub upstream: Option<String>,
    /// User merged into `upstream` when its URL has none; the seed's `login`.
    pub login: Option<String>,
    /// Password merged into `upstream` when its URL has none; the seed's
    /// `password`.
    pub password: Option<String>,
    /// Upstream connect timeout and client idle timeout (`--timeout-seconds`);
    /// the seed's `timeoutSeconds`.
    pub timeout_seconds: Option<u64>,
    /// Leave handshake calls (PING, HELLO, AUTH, …) out of recordings; the
    /// seed's `ignoreTrivialCalls`. `false` = `--record-trivial-calls`.
    pub ignore_trivial_calls: Option<bool>,
    /// Replay with the recorded durations (`--timing recorded`); the seed's
    /// `respectCallDuration`.
    pub respect_call_duration: Option<bool>,
    /// Answer misses with an error rather than asking the upstream
    /// (`--on-miss error`); the seed's `blockExternal`.
    pub block_external: Option<bool>,
    /// The seed's `resetConnectionsOnStart`: close client connections when
    /// the mode is switched (the default); `false` carries them over with
    /// their database, protocol and subscriptions (`--keep-connections`).
    pub reset_connections_on_start: Option<bool>,
    /// Serve the control API on this address (`--admin`); off when absent.
    pub admin: Option<String>,
    /// Upstream TLS: the CA to trust (`--tls-ca-file`).
    pub tls_ca_file: Option<PathBuf>,
    /// Upstream TLS: client certificate (`--tls-cert`).
    pub tls_cert: Option<PathBuf>,
    /// Upstream TLS: its key (`--tls-key`).
    pub tls_key: Option<PathBuf>,
    /// Upstream TLS: the name to verify and send as SNI (`--tls-server-name`).
    pub tls_server_name: Option<String>,
    /// Upstream TLS: skip certificate verification (`--tls-insecure`).
    pub tls_insecure: Option<bool>,
    /// Listener TLS: `"self-signed"` (`--listen-tls`).
    pub listen_tls: Option<String>,
    /// Listener TLS: certificate chain (`--listen-tls-cert`).
    pub listen_tls_cert: Option<PathBuf>,
    /// Listener TLS: its key (`--listen-tls-key`).
    pub listen_tls_key: Option<PathBuf>,
    /// Listener TLS: the CA client certificates must chain to
    /// (`--listen-tls-client-ca`).
    pub listen_tls_client_ca: Option<PathBuf>,
    /// Listener TLS: where a self-signed listener writes its CA
    /// (`--listen-tls-ca-out`).
    pub listen_tls_ca_out: Option<PathBuf>,
    /// Fail the run on misses or unused recordings (`--strict`).
    pub strict: Option<bool>,
    /// Record a Redis Cluster through a listener per node (`--cluster`).
    pub cluster: Option<bool>,
    /// Miss instead of repeating the last reply once recordings are used up
    /// (`--no-repeat`).
    pub no_repeat: Option<bool>,
    /// Match random-looking tokens exactly instead of pairing fresh ones
    /// with recorded ones (`--exact-tokens`).
    pub exact_tokens: Option<bool>,
    /// Refuse clients beyond this many (`--max-clients`).
    pub max_clients: Option<usize>,
    /// Calls the journal keeps, in all (`--journal-max`; 0, the default,
    /// keeps none).
    pub journal_max: Option<usize>,
    /// Ignore rules for volatile arguments (`--ignore`, repeatable); flags add
    /// to these.
    pub ignore: Vec<IgnoreRule>,
    /// The cassette file (`--cassette`), relative to the working directory
    /// like the flag.
    pub cassette: Option<PathBuf>,
    /// `resplay run` mode (`--mode`).
    pub mode: Option<RunMode>,
    /// Faults to inject (`[[fault]]` tables; `--fault` adds to these).
    pub fault: Vec<FaultRule>,
    /// Seed of the faults' probability rolls and jitter (`--seed`).
    pub seed: Option<u64>,
    /// Redaction rules (`[[redact]]` tables; `--redact` adds to these).
    pub redact: Vec<crate::redact::RedactRule>,
    /// Record filters (`--exclude`, repeatable; flags add to these):
    /// commands relayed but left out of the cassette.
    pub exclude: Vec<crate::exclude::ExcludeRule>,
    /// `resplay run` re-records a cassette older than this (by its
    /// header's `created`) when it has an upstream (`--max-age`).
    pub max_age: Option<std::time::Duration>,
    /// Bytes of replies a client may be owed before resplay stops reading
    /// its requests (`--client-output-limit`; `"16mb"` or a number).
    pub client_output_limit: Option<usize>,
    /// Redis's `client-output-buffer-limit pubsub` for subscribers that do
    /// not read (`--client-output-buffer-limit-pubsub`; `"32mb 8mb 60"`).
    pub client_output_buffer_limit_pubsub: Option<PubsubLimit>,
    /// What a recorder does once its cassette cannot be written
    /// (`--on-write-error`; `"continue"` or `"stop"`).
    pub on_write_error: Option<OnWriteError>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field(
                "upstream",
                &self.upstream.as_deref().map(crate::upstream::mask_password),
            )
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout_seconds", &self.timeout_seconds)
            .field("ignore_trivial_calls", &self.ignore_trivial_calls)
            .field("respect_call_duration", &self.respect_call_duration)
            .field("block_external", &self.block_external)
            .field(
                "reset_connections_on_start",
                &self.reset_connections_on_start,
            )
            .field("admin", &self.admin)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_server_name", &self.tls_server_name)
            .field("tls_insecure", &self.tls_insecure)
            .field("listen_tls", &self.listen_tls)
            .field("listen_tls_cert", &self.listen_tls_cert)
            .field("listen_tls_key", &self.listen_tls_key)
            .field("listen_tls_client_ca", &self.listen_tls_client_ca)
            .field("listen_tls_ca_out", &self.listen_tls_ca_out)
            .field("strict", &self.strict)
            .field("no_repeat", &self.no_repeat)
            .field("exact_tokens", &self.exact_tokens)
            .field("max_clients", &self.max_clients)
            .field("journal_max", &self.journal_max)
            .field("ignore", &self.ignore)
            .field("cassette", &self.cassette)
            .field("mode", &self.mode)
            .field("fault", &self.fault)
            .field("seed", &self.seed)
            .field("redact", &self.redact)
            .field("exclude", &self.exclude)
            .field("max_age", &self.max_age)
            .field("client_output_limit", &self.client_output_limit)
            .field(
                "client_output_buffer_limit_pubsub",
                &self.client_output_buffer_limit_pubsub,
            )
            .field("on_write_error", &self.on_write_error)
            .finish()
    }
}

/// `resplay run --mode`, as in VCR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    /// Record when the cassette is missing, replay otherwise.
    Once,
    /// Replay what matches and record the rest.
    NewEpisodes,
    /// Only replay.
    None,
    /// Always record afresh.
    All,
}

/// Why a config file cannot be used. Every message starts with the file (and
/// the line when known), as one line for stderr.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {cause}", path.display())]
    Read {
        /// The path as the user gave it.
        path: PathBuf,
        /// The operating system's reason.
        cause: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("{}{}: {message}", path.display(), at_line(*line))]
    Parse {
        /// The path as the user gave it.
        path: PathBuf,
        /// 1-based line, when the TOML parser located the problem.
        line: Option<usize>,
        /// The parser's message, e.g. ``unknown field `colour`, expected one of …``.
        message: String,
    },
    /// An `ignore` entry is not a valid rule.
    #[error("{}{}: {source}", path.display(), at_line(*line))]
    Rule {
        /// The path as the user gave it.
        path: PathBuf,
        /// 1-based line of the rule.
        line: Option<usize>,
        /// The rule and what is wrong with it.
        source: crate::pattern::RuleError,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// The file as written; converted into [`Config`] once the rules parse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    upstream: Option<String>,
    login: Option<String>,
    password: Option<String>,
    timeout_seconds: Option<u64>,
    ignore_trivial_calls: Option<bool>,
    respect_call_duration: Option<bool>,
    block_external: Option<bool>,
    reset_connections_on_start: Option<bool>,
    admin: Option<String>,
    tls_ca_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_server_name: Option<String>,
    tls_insecure: Option<bool>,
    listen_tls: Option<String>,
    listen_tls_cert: Option<PathBuf>,
    listen_tls_key: Option<PathBuf>,
    listen_tls_client_ca: Option<PathBuf>,
    listen_tls_ca_out: Option<PathBuf>,
    strict: Option<bool>,
    cluster: Option<bool>,
    no_repeat: Option<bool>,
    exact_tokens: Option<bool>,
    max_clients: Option<usize>,
    journal_max: Option<usize>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
    cassette: Option<PathBuf>,
    mode: Option<RunMode>,
    #[serde(default)]
    fault: Vec<FaultRule>,
    seed: Option<u64>,
    #[serde(default)]
    redact: Vec<crate::redact::RedactRule>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    max_age: Option<Spanned<String>>,
    client_output_limit: Option<Spanned<RawSize>>,
    client_output_buffer_limit_pubsub: Option<Spanned<String>>,
    on_write_error: Option<OnWriteError>,
}

/// A size as the file may write it: `"16mb"`, or a number of bytes.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSize {
    Bytes(u64),
    Text(String),
}

/// Reads and checks the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    parse(&text, path)
}

/// Parses config text already in memory; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(s.start));
        let mut message = e.message().trim_end().replace('\n', "; ");
        // Type errors ("invalid type: string \"ten\", expected u64") do not
        // say which key; the line does.
        if let Some(key) = line.and_then(|l| key_on_line(text, l)) {
            if !message.contains(key) {
                message = format!("{key}: {message}");
            }
        }
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            message,
        }
    })?;
    let ignore = raw
        .ignore
        .iter()
        .map(|rule| {
            rule.get_ref()
                .parse::<IgnoreRule>()
                .map_err(|source| ConfigError::Rule {
                    path: path.to_path_buf(),
                    line: Some(line_of(rule.span().start)),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    let at = |span: std::ops::Range<usize>, message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        line: Some(line_of(span.start)),
        message,
    };
    let exclude = raw
        .exclude
        .iter()
        .map(|rule| {
            rule.get_ref()
                .parse::<crate::exclude::ExcludeRule>()
                .map_err(|e| at(rule.span(), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let max_age = match &raw.max_age {
        Some(text) => Some(
            humantime::parse_duration(text.get_ref())
                .map_err(|e| at(text.span(), format!("max_age = {:?}: {e}", text.get_ref())))?,
        ),
        None => None,
    };
    let client_output_limit = match &raw.client_output_limit {
        Some(size) => Some(match size.get_ref() {
            RawSize::Bytes(n) => usize::try_from(*n)
                .map_err(|_| at(size.span(), format!("client_output_limit = {n}: too large")))?,
            RawSize::Text(text) => parse_size(text)
                .map_err(|e| at(size.span(), format!("client_output_limit = {e}")))?,
        }),
        None => None,
    };
    let client_output_buffer_limit_pubsub = match &raw.client_output_buffer_limit_pubsub {
        Some(text) => Some(text.get_ref().parse::<PubsubLimit>().map_err(|e| {
            at(
                text.span(),
                format!("client_output_buffer_limit_pubsub = {e}"),
            )
        })?),
        None => None,
    };
    Ok(Config {
        listen: raw.listen,
        upstream: raw.upstream,
        login: raw.login,
        password: raw.password,
        timeout_seconds: raw.timeout_seconds,
        ignore_trivial_calls: raw.ignore_trivial_calls,
        respect_call_duration: raw.respect_call_duration,
        block_external: raw.block_external,
        reset_connections_on_start: raw.reset_connections_on_start,
        admin: raw.admin,
        tls_ca_file: raw.tls_ca_file,
        tls_cert: raw.tls_cert,
        tls_key: raw.tls_key,
        tls_server_name: raw.tls_server_name,
        tls_insecure: raw.tls_insecure,
        listen_tls: raw.listen_tls,
        listen_tls_cert: raw.listen_tls_cert,
        listen_tls_key: raw.listen_tls_key,
        listen_tls_client_ca: raw.listen_tls_client_ca,
        listen_tls_ca_out: raw.listen_tls_ca_out,
        strict: raw.strict,
        cluster: raw.cluster,
        no_repeat: raw.no_repeat,
        exact_tokens: raw.exact_tokens,
        max_clients: raw.max_clients,
        journal_max: raw.journal_max,
        ignore,
        cassette: raw.cassette,
        mode: raw.mode,
        fault: raw.fault,
        seed: raw.seed,
        redact: raw.redact,
        exclude,
        max_age,
        client_output_limit,
        client_output_buffer_limit_pubsub,
        on_write_error: raw.on_write_error,
    })
}

/// The bare key assigned on 1-based line `line`, if the line is `key = …`.
fn key_on_line(text: &str, line: usize) -> Option<&str> {
    let (key, _) = text.lines().nth(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    bare.then_some(key)
}

impl Config {
    /// `upstream` with `login` / `password` merged in (percent-encoded) where
    /// the URL has no user / password of its own: in the user-info part of a
    /// `redis://` URL, as `user=` / `password=` in a Unix socket URL's query.
    /// A bare `host:port` becomes `redis://host:port`. `None` without
    /// `upstream`; a URL that does not parse is returned as written, for the
    /// upstream parser to report.
    pub fn upstream_url(&self) -> Option<String> {
        let upstream = self.upstream.as_deref()?;
        let text = if upstream.contains("://") {
            upstream.to_string()
        } else {
            format!("redis://{upstream}")
        };
        let Ok(mut url) = url::Url::parse(&text) else {
            return Some(upstream.to_string());
        };
        if crate::upstream::is_unix_scheme(url.scheme()) {
            let has = |keys: &[&str]| url.query_pairs().any(|(k, _)| keys.contains(&&*k));
            let add_user = !has(&["user", "username"]);
            let add_password = !has(&["password", "pass"]);
            let mut query = url.query_pairs_mut();
            if let Some(login) = self.login.as_deref().filter(|l| !l.is_empty() && add_user) {
                query.append_pair("user", login);
            }
            if let Some(password) = self.password.as_deref().filter(|_| add_password) {
                query.append_pair("password", password);
            }
            drop(query);
            return Some(url.to_string());
        }
        if let Some(login) = self.login.as_deref().filter(|l| !l.is_empty()) {
            if url.username().is_empty() && url.set_username(login).is_err() {
                return Some(upstream.to_string());
            }
        }
        if let Some(password) = self.password.as_deref() {
            if url.password().is_none() && url.set_password(Some(password)).is_err() {
                return Some(upstream.to_string());
            }
        }
        Some(url.to_string())
    }

    /// `block_external` as replay's miss policy: `true` → error, `false` →
    /// passthrough.
    pub fn on_miss(&self) -> Option<OnMiss> {
        self.block_external.map(|block| {
            if block {
                OnMiss::Error
            } else {
                OnMiss::Passthrough
            }
        })
    }

    /// `respect_call_duration` as replay timing: `true` → recorded.
    pub fn timing(&self) -> Option<Timing> {
        self.respect_call_duration.map(|respect| {
            if respect {
                Timing::Recorded
            } else {
                Timing::None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("conf/resplay.toml"))
    }

    #[test]
    fn every_key_parses() {
        let text = r#"
listen = "127.0.0.1:0"
upstream = "redis://db:6379/2"
login = "alice"
password = "s3cret"
timeout_seconds = 7
ignore_trivial_calls = false
respect_call_duration = true
block_external = false
reset_connections_on_start = true
strict = true
no_repeat = true
exact_tokens = true
max_clients = 50
ignore = ["SET lock:* <any> PX <any>", "CLIENT SETNAME ..."]
cassette = "tests/redis.jsonl"
mode = "new-episodes"
"#;
        let c = parse_str(text).expect("parses");
        assert_eq!(c.listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(c.upstream.as_deref(), Some("redis://db:6379/2"));
        assert_eq!(c.login.as_deref(), Some("alice"));
        assert_eq!(c.password.as_deref(), Some("s3cret"));
        assert_eq!(c.timeout_seconds, Some(7));
        assert_eq!(c.ignore_trivial_calls, Some(false));
        assert_eq!(c.respect_call_duration, Some(true));
        assert_eq!(c.block_external, Some(false));
        assert_eq!(c.reset_connections_on_start, Some(true));
        assert_eq!(c.strict, Some(true));
        assert_eq!(c.no_repeat, Some(true));
        assert_eq!(c.exact_tokens, Some(true));
        assert_eq!(c.max_clients, Some(50));
        let rules: Vec<_> = c.ignore.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(rules, ["SET lock:* <any> PX <any>", "CLIENT SETNAME ..."]);
        assert_eq!(c.cassette, Some(PathBuf::from("tests/redis.jsonl")));
        assert_eq!(c.mode, Some(RunMode::NewEpisodes));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.on_miss(), Some(OnMiss::Passthrough));
        assert_eq!(c.timing(), Some(Timing::Recorded));

        for (mode, want) in [
            ("once", RunMode::Once),
            ("none", RunMode::None),
            ("all", RunMode::All),
        ] {
            let c = parse_str(&format!("mode = \"{mode}\"")).expect("parses");
            assert_eq!(c.mode, Some(want));
        }
    }

    #[test]
    fn output_limits_and_write_errors_parse_as_redis_writes_them() {
        let c = parse_str(
            "client_output_limit = \"8mb\"\n\
             client_output_buffer_limit_pubsub = \"64mb 16mb 30\"\n\
             on_write_error = \"stop\"\n",
        )
        .expect("parses");
        assert_eq!(c.client_output_limit, Some(8 << 20));
        let pubsub = c.client_output_buffer_limit_pubsub.expect("pubsub limit");
        assert_eq!((pubsub.hard, pubsub.soft), (64 << 20, 16 << 20));
        assert_eq!(pubsub.soft_for, std::time::Duration::from_secs(30));
        assert_eq!(c.on_write_error, Some(OnWriteError::Stop));
        let c = parse_str("client_output_limit = 65536").expect("parses");
        assert_eq!(c.client_output_limit, Some(65536));
        let e = parse_str("\nclient_output_limit = \"16 tb\"").unwrap_err();
        assert!(e.to_string().contains(":2:"), "{e}");
        let e = parse_str("client_output_buffer_limit_pubsub = \"32mb\"").unwrap_err();
        assert!(e.to_string().contains("<hard> <soft> <seconds>"), "{e}");
        assert!(parse_str("on_write_error = \"panic\"").is_err());
    }

    #[test]
    fn example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resplay.toml");
        let c = load(&path).expect("examples/resplay.toml parses");
        assert!(c.upstream.is_some() && c.mode.is_some() && !c.ignore.is_empty());
    }

    /// The example's commented `[[redact]]` tables are real rules.
    #[test]
    fn example_redact_tables_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resplay.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("# [[redact]]\n").expect("an example [[redact]]");
        let tables: String = text[start..]
            .lines()
            .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
            .collect();
        let c = parse_str(&tables).expect("the [[redact]] tables parse");
        assert_eq!(c.redact.len(), 4);
    }

    /// The example's commented TLS keys are real keys.
    #[test]
    fn example_tls_keys_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resplay.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let keys: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with("tls_") || l.starts_with("listen_tls"))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = parse_str(&keys).expect("the TLS keys parse");
        assert!(c.tls_ca_file.is_some() && c.tls_insecure == Some(false));
        assert_eq!(c.listen_tls.as_deref(), Some("self-signed"));
        assert!(c.listen_tls_cert.is_some() && c.listen_tls_client_ca.is_some());
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(parse_str("").expect("parses"), Config::default());
        assert_eq!(Config::default().on_miss(), None);
        assert_eq!(Config::default().upstream_url(), None);
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let e = parse_str("listen = \"x\"\ncolour = \"red\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("conf/resplay.toml:2: "), "{msg}");
        assert!(msg.contains("colour"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn bad_values_name_file_and_line() {
        for text in [
            "\n\ntimeout_seconds = \"ten\"",
            "\n\nmode = \"sometimes\"",
            "\n\nlisten = ",
        ] {
            let msg = parse_str(text).unwrap_err().to_string();
            let key = text.trim().split(' ').next().unwrap_or_default();
            assert!(msg.starts_with("conf/resplay.toml:3: "), "{text}: {msg}");
            assert!(msg.contains(key), "{text}: {msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn bad_rule_is_named() {
        let e = parse_str("ignore = [\n  \"GET k:*\",\n  \"SET 'open\",\n]\n").unwrap_err();
        assert!(matches!(e, ConfigError::Rule { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with("conf/resplay.toml:3: "), "{msg}");
        assert!(msg.contains("SET 'open"), "{msg}");
    }

    #[test]
    fn redact_tables() {
        let text = "[[redact]]\nmatch = \"SET session:*\"\narg = 2\n\n[[redact]]\nmatch = \"HGETALL\"\nfield = \"ssn\"\nreply = false\n";
        let c = parse_str(text).expect("parses");
        let rules: Vec<&str> = c.redact.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(rules, ["SET session:* => arg=2", "HGETALL => field=ssn"]);
        assert!(parse_str("[[redact]]\nmatch = \"GET\"\nreplies = true\n").is_err());
        assert!(parse_str("[[redact]]\nmatch = \"GET\"\n").is_err());
    }

    #[test]
    fn faults_and_seed() {
        let text = "seed = 42\n[[fault]]\nmatch = \"GET session:*\"\nerror = \"LOADING later\"\ncount = 2\n\n[[fault]]\nmatch = \"*\"\nlatency = \"5ms\"\n";
        let c = parse_str(text).expect("parses");
        assert_eq!(c.seed, Some(42));
        let rules: Vec<String> = c.fault.iter().map(ToString::to_string).collect();
        assert_eq!(
            rules,
            [
                "GET session:* => error=\"LOADING later\" count=2",
                "* => latency=5ms"
            ]
        );
        let e = parse_str("\n[[fault]]\nmatch = \"GET\"\ndrop = true\nhang = true\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("conf/resplay.toml:2"), "{msg}");
        assert!(msg.contains("more than one action"), "{msg}");
    }

    #[test]
    fn missing_file_is_named() {
        let msg = load(Path::new("/nonexistent/resplay.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/nonexistent/resplay.toml"), "{msg}");
    }

    #[test]
    fn login_and_password_merge_into_upstream() {
        let with = |upstream: &str, login: Option<&str>, password: Option<&str>| Config {
            upstream: Some(upstream.into()),
            login: login.map(Into::into),
            password: password.map(Into::into),
            ..Config::default()
        };
        let cases = [
            (with("redis://h:1", None, None), "redis://h:1"),
            (with("h:1", None, None), "redis://h:1"),
            (
                with("redis://h:1/2", Some("al ice"), Some("p@ss:w/rd")),
                "redis://al%20ice:p%40ss%3Aw%2Frd@h:1/2",
            ),
            (with("h:1", None, Some("pw")), "redis://:pw@h:1"),
            (with("h:1", Some("bob"), None), "redis://bob@h:1"),
            // The URL's own credentials win.
            (
                with("redis://u:x@h:1", Some("bob"), Some("pw")),
                "redis://u:x@h:1",
            ),
        ];
        for (config, want) in cases {
            assert_eq!(config.upstream_url().as_deref(), Some(want), "{config:?}");
        }
        // A Unix socket URL takes them in its query.
        let unix = with("unix:///run/redis.sock?db=1", Some("bob"), Some("p&w"));
        let up = crate::upstream::Upstream::parse(&unix.upstream_url().unwrap()).expect("parses");
        assert_eq!(
            (up.user.as_deref(), up.password.as_deref(), up.db),
            (Some("bob"), Some("p&w"), 1)
        );
        let own = with("unix:///r.sock?password=mine", None, Some("pw")).upstream_url();
        assert_eq!(own.as_deref(), Some("unix:///r.sock?password=mine"));
        // The merged URL is what the upstream parser reads back.
        let merged = with("h:1", Some("al ice"), Some("p@ss")).upstream_url();
        let up = crate::upstream::Upstream::parse(merged.as_deref().unwrap_or("")).expect("parses");
        assert_eq!(up.user.as_deref(), Some("al ice"));
        assert_eq!(up.password.as_deref(), Some("p@ss"));
    }
}
