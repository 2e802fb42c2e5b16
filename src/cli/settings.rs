//! Flags over the config file: the one place that knows, for each setting,
//! its flag, its config key, its default and what it conflicts with.
//!
//! Each function below is one setting (or one group that is checked as a
//! whole, such as the listener's TLS) and says so in its first line as
//! `--flag` / `key`, then the default. The rules are the same throughout:
//! a flag wins over the file's key, and a list (ignore, fault and redaction
//! rules) is the file's followed by the flags'. The builders at the bottom
//! put the single settings together into the library's configs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};

use resplay::config::{Config, RunMode};
use resplay::fault::{FaultRule, Faults};
use resplay::record::{OnWriteError, RecordConfig};
use resplay::redact::{RedactRule, Redactor};
use resplay::replay::{IgnoreRule, OnMiss, ReplayConfig, Timing};
use resplay::server::output_limit::OutputLimits;
use resplay::server::DEFAULT_MAX_CLIENTS;
use resplay::tls::{ListenerTls, UpstreamTlsOptions};
use resplay::upstream::Upstream;

use super::args::{Common, ReplayFlags, Steer};
use resplay::control::api::Access;
use resplay::control::guard::TOKEN_ENV;

/// The address record and replay listen on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6380";

/// `--cassette` / `cassette`, for a subcommand that cannot do without one.
pub fn cassette(common: &Common, file: &Config) -> Result<PathBuf> {
    match common.cassette.clone().or_else(|| file.cassette.clone()) {
        Some(path) => Ok(path),
        None => bail!("no cassette: pass --cassette FILE (or set `cassette` in the config file)"),
    }
}

/// `--cassette` / `cassette`, for replay, which may start without one.
pub fn cassette_if_any(common: &Common, file: &Config) -> Option<PathBuf> {
    common.cassette.clone().or_else(|| file.cassette.clone())
}

/// `--upstream` / `upstream` (with the file's `login` and `password` merged
/// into either), connecting within [`timeout`], with the `--tls-*` /
/// `tls_*` options; none by default. The TLS options need a `rediss://`
/// upstream over TCP. Parsed once here: a `rediss://` one loads its
/// certificates, so a bad CA file is reported before anything starts.
pub fn upstream(common: &Common, file: &Config) -> Result<Option<Upstream>> {
    let url = match &common.upstream {
        Some(flag) => {
            let merged = Config {
                upstream: Some(flag.clone()),
                login: file.login.clone(),
                password: file.password.clone(),
                ..Config::default()
            };
            merged.upstream_url()
        }
        None => file.upstream_url(),
    };
    let Some(url) = url else {
        return Ok(None);
    };
    let mut parsed = Upstream::parse(&url)?;
    if let Some(seconds) = timeout(common, file) {
        parsed.connect_timeout = seconds;
    }
    let flags = &common.tls;
    let options = UpstreamTlsOptions {
        ca_file: flags.tls_ca_file.clone().or(file.tls_ca_file.clone()),
        cert: flags.tls_cert.clone().or(file.tls_cert.clone()),
        key: flags.tls_key.clone().or(file.tls_key.clone()),
        server_name: flags
            .tls_server_name
            .clone()
            .or(file.tls_server_name.clone()),
        insecure: flags.tls_insecure || file.tls_insecure.unwrap_or(false),
    };
    with_tls(&mut parsed, options)?;
    Ok(Some(parsed))
}

/// Sets an upstream's TLS options (`--tls-*`), which need a `rediss://`
/// URL, and checks it can verify a server (system roots or a CA file).
pub fn with_tls(parsed: &mut Upstream, options: UpstreamTlsOptions) -> Result<()> {
    if options != UpstreamTlsOptions::default() {
        if parsed.addr.starts_with("unix:") {
            bail!("the --tls-* options need a TCP upstream (rediss://HOST:PORT): TLS over a Unix socket is not supported");
        }
        if parsed.tls.is_none() {
            bail!(
                "the --tls-* options are for a TLS upstream: write it as rediss://{}",
                parsed.addr
            );
        }
        parsed.set_tls(options)?;
    }
    if let Some(reason) = parsed.tls.as_ref().and_then(|t| t.missing_roots()) {
        bail!("upstream {}: upstream TLS: {reason}", parsed.addr);
    }
    Ok(())
}

/// `--listen-tls-*` / `listen_tls_*`: the listener's TLS, plain TCP by
/// default. Either a certificate and its key, or `self-signed` with a place
/// for its CA; the client CA and the CA output need one of the two.
pub fn listener_tls(common: &Common, file: &Config) -> Result<Option<ListenerTls>> {
    let flags = &common.tls;
    let cert = flags
        .listen_tls_cert
        .clone()
        .or(file.listen_tls_cert.clone());
    let key = flags.listen_tls_key.clone().or(file.listen_tls_key.clone());
    let client_ca = flags
        .listen_tls_client_ca
        .clone()
        .or(file.listen_tls_client_ca.clone());
    let mode = flags.listen_tls.clone().or(file.listen_tls.clone());
    let ca_out = flags
        .listen_tls_ca_out
        .clone()
        .or(file.listen_tls_ca_out.clone());
    let tls = match (mode.as_deref(), cert, key) {
        (Some("self-signed"), None, None) => {
            let Some(ca_out) = ca_out else {
                bail!("--listen-tls self-signed needs --listen-tls-ca-out FILE, where its CA is written for clients to trust");
            };
            ListenerTls::self_signed(&ca_out, client_ca.as_deref())?
        }
        (Some("self-signed"), _, _) => {
            bail!("--listen-tls self-signed makes its own certificate: leave out --listen-tls-cert and --listen-tls-key")
        }
        (Some(other), _, _) => bail!("--listen-tls takes only 'self-signed', not '{other}'"),
        (None, Some(cert), Some(key)) => {
            ListenerTls::from_files(&cert, &key, client_ca.as_deref())?
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            bail!("--listen-tls-cert and --listen-tls-key go together")
        }
        (None, None, None) => {
            if client_ca.is_some() || ca_out.is_some() {
                bail!("--listen-tls-client-ca and --listen-tls-ca-out need a TLS listener (--listen-tls-cert/--listen-tls-key or --listen-tls self-signed)");
            }
            return Ok(None);
        }
    };
    Ok(Some(tls))
}

/// `--timeout-seconds` / `timeout_seconds`; none by default, and 0 also
/// means none.
pub fn timeout(common: &Common, file: &Config) -> Option<Duration> {
    common
        .timeout_seconds
        .or(file.timeout_seconds)
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
}

/// `--client-output-limit` / `client_output_limit` and
/// `--client-output-buffer-limit-pubsub` /
/// `client_output_buffer_limit_pubsub`; Redis's defaults otherwise.
pub fn output_limits(common: &Common, file: &Config) -> OutputLimits {
    let default = OutputLimits::default();
    OutputLimits {
        client: common
            .client_output_limit
            .or(file.client_output_limit)
            .unwrap_or(default.client),
        pubsub: common
            .client_output_buffer_limit_pubsub
            .or(file.client_output_buffer_limit_pubsub)
            .unwrap_or(default.pubsub),
    }
}

/// `--on-write-error` / `on_write_error`; continue by default.
pub fn on_write_error(flag: Option<OnWriteError>, file: &Config) -> OnWriteError {
    flag.or(file.on_write_error).unwrap_or_default()
}

/// `--max-clients` / `max_clients`; [`DEFAULT_MAX_CLIENTS`] by default.
pub fn max_clients(common: &Common, file: &Config) -> usize {
    common
        .max_clients
        .or(file.max_clients)
        .unwrap_or(DEFAULT_MAX_CLIENTS)
}

/// `--listen` / `listen`; [`DEFAULT_LISTEN`] by default.
pub fn listen(flag: &Option<String>, file: &Config) -> String {
    flag.clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string())
}

/// `--fault` / `[[fault]]` under `--seed` / `seed`; no rules by default.
/// Without a seed one is drawn and printed, so a run that found something
/// can be repeated exactly.
pub fn faults(common: &Common, file: &Config) -> Arc<Faults> {
    let rules: Vec<FaultRule> = file.fault.iter().chain(&common.fault).cloned().collect();
    let seed = common.seed.or(file.seed).unwrap_or_else(|| {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        if !rules.is_empty() {
            eprintln!("resplay: faults seeded with {seed} (--seed {seed} repeats them)");
        }
        seed
    });
    Arc::new(Faults::with_rules(seed, rules))
}

/// `--redact` / `[[redact]]` under a fresh salt (replay and appends use the
/// cassette's own); None without rules.
pub fn redactor(flags: &[RedactRule], file: &Config) -> Option<Redactor> {
    let rules: Vec<RedactRule> = file.redact.iter().chain(flags).cloned().collect();
    (!rules.is_empty()).then(|| Redactor::new(rules, &Redactor::fresh_salt()))
}

/// `--ignore` / `ignore`; none by default.
pub fn ignore_rules(flags: &[IgnoreRule], file: &Config) -> Vec<IgnoreRule> {
    let mut rules = file.ignore.clone();
    rules.extend(flags.iter().cloned());
    rules
}

/// `--record-trivial-calls` / `ignore_trivial_calls` (inverted): handshake
/// calls are left out of recordings by default.
pub fn ignore_trivial(record_trivial_calls: bool, file: &Config) -> bool {
    !record_trivial_calls && file.ignore_trivial_calls.unwrap_or(true)
}

/// `--strict` / `strict`; off by default.
pub fn strict(flag: bool, file: &Config) -> bool {
    flag || file.strict.unwrap_or(false)
}

/// `--cluster` / `cluster`; off by default.
pub fn cluster(flag: bool, file: &Config) -> bool {
    flag || file.cluster.unwrap_or(false)
}

/// `--mode` / `mode` of `resplay run`; `once` by default.
pub fn run_mode(flag: Option<RunMode>, file: &Config) -> RunMode {
    flag.or(file.mode).unwrap_or(RunMode::Once)
}

/// `--exclude` / `exclude` (record, run): the file's rules, then the
/// flags'; none by default.
pub fn exclude_rules(
    flags: &[resplay::exclude::ExcludeRule],
    file: &Config,
) -> Vec<resplay::exclude::ExcludeRule> {
    file.exclude.iter().chain(flags).cloned().collect()
}

/// `--max-age` / `max_age` of `resplay run`; none (a cassette never
/// expires) by default.
pub fn max_age(flag: Option<Duration>, file: &Config) -> Option<Duration> {
    flag.or(file.max_age)
}

/// `--admin` / `admin`: where the control API listens; off by default.
pub fn admin<'a>(steer: &'a Steer, file: &'a Config) -> Option<&'a String> {
    steer.admin.as_ref().or(file.admin.as_ref())
}

/// Who may use the control API: `--admin-token` (else `RESPLAY_ADMIN_TOKEN`)
/// and `--admin-host`. Either flag without a control API is refused rather
/// than ignored; the variable may be set for `resplay ctl`'s sake alone.
pub fn admin_access(steer: &Steer, file: &Config) -> anyhow::Result<Access> {
    if admin(steer, file).is_none() {
        if steer.admin_token.is_some() {
            anyhow::bail!(
                "--admin-token protects the control API: it needs --admin (or the admin key)"
            );
        }
        if !steer.admin_hosts.is_empty() {
            anyhow::bail!(
                "--admin-host names the control API's host: it needs --admin (or the admin key)"
            );
        }
    }
    let token = steer
        .admin_token
        .clone()
        .or_else(|| std::env::var(TOKEN_ENV).ok())
        .filter(|t| !t.is_empty());
    Ok(Access {
        token,
        hosts: steer.admin_hosts.clone(),
    })
}

/// `--journal-max` / `journal_max`: the calls the journal keeps; 0 (off)
/// unless asked for, so that serving pays nothing for it (it measured
/// about 10 % of replay's instructions per request).
pub fn journal_max(steer: &Steer, file: &Config) -> usize {
    steer.journal_max.or(file.journal_max).unwrap_or(0)
}

/// `--keep-connections` / `reset_connections_on_start` (inverted): a mode
/// switch closes client connections by default.
pub fn reset_connections(steer: &Steer, file: &Config) -> bool {
    !steer.keep_connections && file.reset_connections_on_start.unwrap_or(true)
}

/// `--timing` / `respect_call_duration`; `none` by default.
fn timing(flag: Option<Timing>, file: &Config) -> Timing {
    flag.or(file.timing()).unwrap_or(Timing::None)
}

/// `--on-miss` / `block_external` (inverted); `error` by default.
fn on_miss(flag: Option<OnMiss>, file: &Config) -> OnMiss {
    flag.or(file.on_miss()).unwrap_or(OnMiss::Error)
}

/// `--no-repeat` / `no_repeat` (inverted): the last reply repeats by
/// default.
fn repeat(flags: &ReplayFlags, file: &Config) -> bool {
    !(flags.no_repeat || file.no_repeat.unwrap_or(false))
}

/// Replay settings, which record and run also take for their listener and
/// faults; `upstream` as [`upstream`] read it (parsed once).
pub fn replay_config(
    common: &Common,
    flags: &ReplayFlags,
    on_miss_flag: Option<OnMiss>,
    file: &Config,
    upstream: Option<Upstream>,
) -> Result<ReplayConfig> {
    let mut config = ReplayConfig {
        rules: ignore_rules(&flags.ignore, file),
        repeat: repeat(flags, file),
        exact_tokens: flags.exact_tokens || file.exact_tokens.unwrap_or(false),
        on_miss: on_miss(on_miss_flag, file),
        upstream,
        timing: timing(flags.timing, file),
        idle_timeout: timeout(common, file),
        faults: faults(common, file),
        redact: redactor(&common.redact, file),
        ..ReplayConfig::default()
    };
    config.serve.max_clients = max_clients(common, file);
    config.serve.output = output_limits(common, file);
    config.serve.tls = listener_tls(common, file)?;
    if let Some(path) = &flags.stubs {
        config.stubs.load(path).map_err(anyhow::Error::msg)?;
    }
    Ok(config)
}

/// Record settings; None without an upstream, since there is nothing to
/// record from. Faults and the listener's TLS come from [`replay_config`],
/// which the caller made first.
pub fn record_config(
    common: &Common,
    record_trivial_calls: bool,
    file: &Config,
    upstream: Option<Upstream>,
) -> Option<RecordConfig> {
    let upstream = upstream?;
    let mut config = RecordConfig::new(upstream);
    config.ignore_trivial_calls = ignore_trivial(record_trivial_calls, file);
    config.redact = redactor(&common.redact, file);
    config.idle_timeout = timeout(common, file);
    config.serve.max_clients = max_clients(common, file);
    config.serve.output = output_limits(common, file);
    // The file's key; `record` and `run` put their flag over it.
    config.on_write_error = on_write_error(None, file);
    Some(config)
}
