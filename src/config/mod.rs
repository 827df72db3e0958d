//! The member configuration, read exactly as etcd 3.4 reads its flags, `ETCD_*`
//! environment variables and YAML `--config-file`, so an etcd command line, systemd unit,
//! Kubernetes manifest or config file starts etcd-rs unchanged.
//!
//! # Sources, as etcd 3.4 combines them
//! 1. The command line is parsed by Go's rules (`-flag value`, `--flag=value`, bool flags
//!    alone or `=false`; parsing stops at the first non-flag, which is then an error).
//! 2. If `--config-file` (or `ETCD_CONFIG_FILE`) names a file, the YAML file is the *only*
//!    source: every other flag and `ETCD_*` variable is ignored (with a warning naming
//!    them). Unknown YAML keys are ignored, as etcd ignores them.
//! 3. Otherwise each flag not on the command line is read from `ETCD_<FLAG>` (upper case,
//!    `-` → `_`). A variable shadowed by a command-line flag stops start-up, as in etcd;
//!    an unknown `ETCD_*` variable is a warning.
//!
//! Every etcd 3.4 flag is known ([`flags::FLAGS`]): implemented ones set typed fields of
//! [`MemberConfig`]; others are accepted with a warning when set to a non-default value;
//! security settings etcd-rs lacks (authentication, TLS on `unixs://` and metrics URLs)
//! and bootstrap modes it lacks (discovery, proxy) are refused rather than ignored.
//!
//! # What is not done here, because it needs I/O
//! - etcd checks `--initial-cluster` and the member's place in it only when the data
//!   directory is new: call [`MemberConfig::verify_bootstrap`] or
//!   [`MemberConfig::verify_join_existing`] then.
//! - etcd compares peer URLs after resolving host names; here they are compared as
//!   written.
//! - etcd replaces a default advertise host with the machine's default host when
//!   listening on `0.0.0.0`; here the configured URLs are kept as they are.

mod cluster;
mod cmdline;
pub mod dev;
mod error;
pub mod flags;
mod goparse;
mod settings;
mod sha1;
mod url;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

pub use cluster::{ClusterId, InitialMember, member_id};
pub use error::ConfigError;
pub use goparse::quote;

/// etcd's default `--initial-cluster`, from the default name and peer URL.
pub const DEFAULT_INITIAL_CLUSTER: &str = "default=http://localhost:2380";

/// Whether the member starts a new cluster or joins an existing one
/// (`--initial-cluster-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterState {
    /// Bootstrap a new cluster from `--initial-cluster`.
    #[default]
    New,
    /// Join a cluster that already runs (the member was added with `member add`).
    Existing,
}

/// How `--auto-compaction-retention` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompactionMode {
    /// Retention is a duration (a bare number means hours).
    #[default]
    Periodic,
    /// Retention is a number of revisions.
    Revision,
}

/// Automatic compaction, as `--auto-compaction-mode` and `--auto-compaction-retention`
/// ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// No automatic compaction (retention 0).
    Disabled,
    /// Keep this much history.
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(u64),
}

/// The configuration of one member, with etcd 3.4's defaults.
///
/// URL lists hold canonical URL strings (as Go prints them), sorted, as etcd keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// `--name`: the member's human-readable name.
    pub name: String,
    /// `--data-dir`; by default `<name>.etcd`.
    pub data_dir: PathBuf,
    /// `--listen-client-urls`.
    pub listen_client_urls: Vec<String>,
    /// `--advertise-client-urls`.
    pub advertise_client_urls: Vec<String>,
    /// `--listen-peer-urls`.
    pub listen_peer_urls: Vec<String>,
    /// `--initial-advertise-peer-urls`.
    pub initial_advertise_peer_urls: Vec<String>,
    /// `--listen-metrics-urls`: extra URLs serving `/metrics` and `/health` (none by
    /// default).
    pub listen_metrics_urls: Vec<String>,
    /// `--initial-cluster` as written (`name=url,name=url`); see
    /// [`MemberConfig::initial_members`].
    pub initial_cluster: String,
    /// `--initial-cluster-state`.
    pub initial_cluster_state: ClusterState,
    /// `--initial-cluster-token`: mixed into member and cluster IDs.
    pub initial_cluster_token: String,
    /// `--heartbeat-interval`, in milliseconds: one Raft tick.
    pub heartbeat_interval_ms: u64,
    /// `--election-timeout`, in milliseconds.
    pub election_timeout_ms: u64,
    /// `--initial-election-tick-advance`: fast-forward election ticks at boot.
    pub initial_election_tick_advance: bool,
    /// `--snapshot-count`: committed entries between snapshots.
    pub snapshot_count: u64,
    /// `--max-snapshots`: snapshot files kept (0 = unlimited).
    pub max_snapshots: u64,
    /// `--max-wals`: log files kept (0 = unlimited).
    pub max_wals: u64,
    /// `--quota-backend-bytes` as given: 0 means the default (2 GiB), negative disables
    /// the quota; see [`MemberConfig::quota_backend_bytes_limit`].
    pub quota_backend_bytes: i64,
    /// `--max-request-bytes`: the largest client request accepted.
    pub max_request_bytes: u64,
    /// `--max-txn-ops`: the most operations in one transaction.
    pub max_txn_ops: u64,
    /// `--max-concurrent-streams`: gRPC streams per client connection.
    pub max_concurrent_streams: u32,
    /// `--grpc-keepalive-interval` (zero disables server pings).
    pub grpc_keepalive_interval: Duration,
    /// `--grpc-keepalive-timeout` (zero disables).
    pub grpc_keepalive_timeout: Duration,
    /// `--auth-token`: the kind of token Authenticate issues (`simple`).
    pub auth_token: String,
    /// `--bcrypt-cost`: the cost of the bcrypt hashes of users' passwords.
    pub bcrypt_cost: u64,
    /// `--auth-token-ttl`, in seconds: how long a simple token lives unused.
    pub auth_token_ttl: u64,
    /// `--strict-reconfig-check`: refuse membership changes that would lose quorum.
    pub strict_reconfig_check: bool,
    /// `--pre-vote`: Raft's pre-vote phase.
    pub pre_vote: bool,
    /// `--cors`: allowed origins (`*` = any).
    pub cors: Vec<String>,
    /// `--host-whitelist`: accepted HTTP `Host` values (`*` = any).
    pub host_whitelist: Vec<String>,
    /// `--logger`: `capnslog` (etcd 3.4's default) or `zap`.
    pub logger: String,
    /// `--log-level` (`debug`, `info`, `warn`, `error`, `dpanic`, `panic`, `fatal`);
    /// `--debug` sets it to `debug`.
    pub log_level: String,
    /// `--log-outputs`: `default`, `stderr`, `stdout` or file paths.
    pub log_outputs: Vec<String>,
    /// `--auto-compaction-mode`.
    pub auto_compaction_mode: CompactionMode,
    /// `--auto-compaction-retention` as written; see [`MemberConfig::auto_compaction`].
    pub auto_compaction_retention: String,
    /// `--enable-pprof`: serve `/debug/pprof/` on client URLs.
    pub enable_pprof: bool,
    /// `--metrics`: `basic` or `extensive`.
    pub metrics: String,
    /// `--enable-grpc-gateway`: serve the JSON gateway on client URLs.
    pub enable_grpc_gateway: bool,
    /// `--experimental-enable-lease-checkpoint`.
    pub experimental_enable_lease_checkpoint: bool,
    /// `--experimental-enable-lease-checkpoint-persist`.
    pub experimental_enable_lease_checkpoint_persist: bool,
    /// `--experimental-compaction-batch-limit` (0 = etcd's default batch).
    pub experimental_compaction_batch_limit: i64,
    /// `--experimental-watch-progress-notify-interval` as given (zero = the server
    /// default); see [`MemberConfig::watch_progress_notify_interval`].
    pub experimental_watch_progress_notify_interval: Duration,
    /// `--experimental-warning-apply-duration`: applies slower than this are logged.
    pub experimental_warning_apply_duration: Duration,
    /// `--unsafe-no-fsync`: skip fsync (loses data on a crash).
    pub unsafe_no_fsync: bool,
    /// `--experimental-initial-corrupt-check`: compare the store's hash with the peers'
    /// before serving, and refuse to start on a difference.
    pub experimental_initial_corrupt_check: bool,
    /// `--experimental-corrupt-check-time`: how often the leader compares the members'
    /// hashes (zero: never).
    pub experimental_corrupt_check_time: Duration,
    /// TLS of the client URLs (`--cert-file`, `--key-file`, `--trusted-ca-file`,
    /// `--client-cert-auth`, `--client-crl-file`, `--auto-tls`,
    /// `--client-cert-allowed-hostname`); used on `https://` client URLs.
    pub client_tls: TlsSettings,
    /// TLS of the peer URLs (the `--peer-*` equivalents, `--peer-cert-allowed-cn`,
    /// `--experimental-peer-skip-client-san-verification`); used on `https://` peer URLs.
    pub peer_tls: TlsSettings,
    /// `--cipher-suites`: the TLS 1.2 cipher suites allowed, by Go's names (empty: the
    /// TLS library's defaults). TLS 1.3's suites are not configurable, as in Go.
    pub cipher_suites: Vec<String>,
}

/// The TLS settings of one side (client URLs or peer URLs), as etcd's `transport.TLSInfo`.
/// Files are read when the member starts, not when the configuration is parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// The certificate (PEM) presented, with its chain.
    pub cert_file: String,
    /// Its private key (PEM).
    pub key_file: String,
    /// The CA certificates (PEM) client certificates are verified against, and, when
    /// this member dials (peers), the servers' certificates.
    pub trusted_ca_file: String,
    /// Whether a verified client certificate is required.
    pub client_cert_auth: bool,
    /// A certificate revocation list (PEM or DER); a revoked client certificate is refused.
    pub crl_file: String,
    /// Whether to generate a self-signed certificate at start-up when no
    /// certificate is given (under `<data-dir>/fixtures/client` or `.../peer`).
    pub auto_tls: bool,
    /// The only subject Common Name accepted in the other side's certificate (peers).
    pub allowed_cn: String,
    /// The only host name the other side's certificate must be valid for.
    pub allowed_hostname: String,
    /// Peers only: skip checking that a client certificate's SANs match the caller's
    /// address (etcd's `--experimental-peer-skip-client-san-verification`).
    pub skip_client_san_verification: bool,
}

impl TlsSettings {
    /// Whether no certificate is given (etcd's `TLSInfo.Empty`).
    pub fn is_empty(&self) -> bool {
        self.cert_file.is_empty() && self.key_file.is_empty()
    }
}

impl Default for MemberConfig {
    fn default() -> Self {
        MemberConfig {
            name: "default".to_string(),
            data_dir: PathBuf::from("default.etcd"),
            listen_client_urls: vec!["http://localhost:2379".to_string()],
            advertise_client_urls: vec!["http://localhost:2379".to_string()],
            listen_peer_urls: vec!["http://localhost:2380".to_string()],
            initial_advertise_peer_urls: vec!["http://localhost:2380".to_string()],
            listen_metrics_urls: Vec::new(),
            initial_cluster: DEFAULT_INITIAL_CLUSTER.to_string(),
            initial_cluster_state: ClusterState::New,
            initial_cluster_token: "etcd-cluster".to_string(),
            heartbeat_interval_ms: 100,
            election_timeout_ms: 1000,
            initial_election_tick_advance: true,
            snapshot_count: 100_000,
            max_snapshots: 5,
            max_wals: 5,
            quota_backend_bytes: 0,
            max_request_bytes: 1_572_864,
            max_txn_ops: 128,
            max_concurrent_streams: u32::MAX,
            grpc_keepalive_interval: Duration::from_secs(2 * 3600),
            grpc_keepalive_timeout: Duration::from_secs(20),
            auth_token: "simple".to_string(),
            bcrypt_cost: 10,
            auth_token_ttl: 300,
            strict_reconfig_check: true,
            pre_vote: false,
            cors: vec!["*".to_string()],
            host_whitelist: vec!["*".to_string()],
            logger: "capnslog".to_string(),
            log_level: "info".to_string(),
            log_outputs: vec!["default".to_string()],
            auto_compaction_mode: CompactionMode::Periodic,
            auto_compaction_retention: "0".to_string(),
            enable_pprof: false,
            metrics: "basic".to_string(),
            enable_grpc_gateway: true,
            experimental_enable_lease_checkpoint: false,
            experimental_enable_lease_checkpoint_persist: false,
            experimental_compaction_batch_limit: 0,
            experimental_watch_progress_notify_interval: Duration::ZERO,
            experimental_warning_apply_duration: Duration::from_millis(100),
            unsafe_no_fsync: false,
            experimental_initial_corrupt_check: false,
            experimental_corrupt_check_time: Duration::ZERO,
            client_tls: TlsSettings::default(),
            peer_tls: TlsSettings::default(),
            cipher_suites: Vec::new(),
        }
    }
}

/// etcd's default backend quota (`etcdserver.DefaultQuotaBytes`).
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// etcd's watch progress interval when none is configured.
pub const DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(600);
/// etcd's shortest watch progress interval; shorter settings are raised to it.
pub const MIN_WATCH_PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_millis(100);

impl MemberConfig {
    /// Election timeout in ticks (etcd's `ElectionTicks`).
    pub fn election_ticks(&self) -> u64 {
        self.election_timeout_ms / self.heartbeat_interval_ms.max(1)
    }

    /// The backend size limit in bytes, or `None` when the quota is disabled (negative).
    pub fn quota_backend_bytes_limit(&self) -> Option<u64> {
        match self.quota_backend_bytes {
            0 => Some(DEFAULT_QUOTA_BACKEND_BYTES),
            q if q < 0 => None,
            q => Some(q.unsigned_abs()),
        }
    }

    /// The watch progress interval the server uses: 10 minutes when unset, and never
    /// below 100 ms (etcd's `v3rpc` rules).
    pub fn watch_progress_notify_interval(&self) -> Duration {
        match self.experimental_watch_progress_notify_interval {
            Duration::ZERO => DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL,
            d => d.max(MIN_WATCH_PROGRESS_NOTIFY_INTERVAL),
        }
    }

    /// Automatic compaction as etcd reads it (`parseCompactionRetention`): a whole number
    /// is hours (periodic) or revisions; otherwise a Go duration.
    pub fn auto_compaction(&self) -> Result<AutoCompaction, ConfigError> {
        settings::parse_compaction(self.auto_compaction_mode, &self.auto_compaction_retention)
    }
}

/// A configuration that parsed, with what start-up should tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The member configuration.
    pub config: MemberConfig,
    /// Warnings to print before starting: settings accepted but not implemented, ignored
    /// flags and variables, etcd's own warnings.
    pub warnings: Vec<String>,
    /// Informational lines etcd also prints ("recognized and used environment variable
    /// ETCD_NAME=x", the config file loaded).
    pub notes: Vec<String>,
}

/// Parses etcd's command line and environment into a member configuration.
///
/// `args` are the arguments after the program name; `env` is the process environment
/// (only `ETCD_*` entries matter). The one I/O is reading the `--config-file`, if given.
pub fn parse(args: &[String], env: &[(String, String)]) -> Result<Parsed, ConfigError> {
    let cmd = cmdline::parse_args(args)?;
    if let Some(first) = cmd.rest.first() {
        return Err(ConfigError::Invalid(format!(
            "'{first}' is not a valid flag"
        )));
    }
    if cmd.last("version") == Some(&flags::Value::Bool(true)) {
        return Err(ConfigError::VersionRequested);
    }
    let from_flag = match cmd.last("config-file") {
        Some(flags::Value::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let config_file = from_flag.or_else(|| {
        cmdline::getenv(env, "ETCD_CONFIG_FILE")
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    });
    if let Some(path) = config_file {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Invalid(go_io_error("open", &path, &e)))?;
        let mut parsed = parse_config_file(&text)?;
        parsed.notes.insert(
            0,
            format!(
                "Loading server configuration from {}. Other configuration command line flags and environment variables will be ignored if provided.",
                goparse::quote(&path)
            ),
        );
        if let Some(w) = ignored_because_of_config_file(&cmd, env) {
            parsed.warnings.insert(0, w);
        }
        return Ok(parsed);
    }
    let settings = cmdline::settings_from_cmdline(&cmd, env)?;
    settings::build(settings, settings::Mode::CommandLine)
}

/// Parses the text of an etcd YAML config file, as `--config-file` would.
pub fn parse_config_file(text: &str) -> Result<Parsed, ConfigError> {
    let settings = yaml::settings_from_yaml(text)?;
    settings::build(settings, settings::Mode::ConfigFile)
}

/// The warning naming the flags and variables a config file makes etcd ignore.
fn ignored_because_of_config_file(
    cmd: &cmdline::CommandLine,
    env: &[(String, String)],
) -> Option<String> {
    let mut ignored: Vec<String> = Vec::new();
    for (spec, _) in &cmd.given {
        let f = format!("--{}", spec.name);
        if spec.name != "config-file" && !ignored.contains(&f) {
            ignored.push(f);
        }
    }
    for (k, v) in env {
        if k.starts_with("ETCD_") && k != "ETCD_CONFIG_FILE" && !v.is_empty() {
            ignored.push(k.clone());
        }
    }
    if ignored.is_empty() {
        return None;
    }
    Some(format!(
        "etcd-rs: a config file is given, so (as etcd does) these command-line flags and environment variables are ignored: {}",
        ignored.join(", ")
    ))
}

/// A file error worded as Go words it (`open x.yaml: no such file or directory`).
fn go_io_error(op: &str, path: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => return format!("read {path}: is a directory"),
        _ => e.to_string(),
    };
    format!("{op} {path}: {why}")
}
