//! From the settings given (flags, environment, or config file) to a validated
//! [`MemberConfig`]: refusals and warnings for what etcd-rs does not implement, the typed
//! fields, then etcd's `embed.Config.Validate` and the defaults etcd fills in after it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::flags::{FlagSpec, Support, Value};
use super::goparse::{self, quote};
use super::url::{check_bind_urls, check_host_urls, new_urls_map};
use super::{AutoCompaction, ClusterState, CompactionMode, MemberConfig, Parsed};

/// Where a setting came from, to name it in messages as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The command line.
    Flag,
    /// An `ETCD_*` variable.
    Env(String),
    /// A key of the config file.
    File,
}

impl Origin {
    /// The setting as the user wrote it.
    fn setting(&self, name: &str) -> String {
        match self {
            Origin::Flag => format!("--{name}"),
            Origin::Env(key) => key.clone(),
            Origin::File => format!("config-file key {name}"),
        }
    }
}

/// Which of etcd's two paths produced the settings: they differ in small ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Flags and environment (`configFromCmdLine`).
    CommandLine,
    /// `--config-file` (`configFromFile`).
    ConfigFile,
}

/// The settings given, before they become a configuration.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    /// The latest value of each flag given.
    values: BTreeMap<&'static str, (&'static FlagSpec, Value, Origin)>,
    /// Every flag given, even with a value that changed nothing (Go's `flag.Visit`).
    given: BTreeSet<&'static str>,
    /// Warnings so far.
    pub warnings: Vec<String>,
    /// Informational lines so far.
    pub notes: Vec<String>,
}

impl Settings {
    /// Records a value; a later value of the same flag replaces it, and an empty URL list
    /// ([`Value::Keep`]) leaves the earlier value, as etcd's `UniqueURLs` does.
    pub fn set(&mut self, spec: &'static FlagSpec, value: Value, origin: Origin) {
        self.given.insert(spec.name);
        if value != Value::Keep {
            self.values.insert(spec.name, (spec, value, origin));
        }
    }

    /// Whether the flag was given at all.
    pub fn is_given(&self, name: &str) -> bool {
        self.given.contains(name)
    }
}

/// Whether a value is etcd's default for its flag (empty lists count as the empty
/// default).
fn is_default(spec: &FlagSpec, value: &Value) -> bool {
    let default = spec.default_value();
    match (value, &default) {
        (Value::List(v), Value::List(d)) => {
            let nonempty = |l: &Vec<String>| l.iter().any(|s| !s.is_empty());
            v == d || (!nonempty(v) && !nonempty(d))
        }
        _ => *value == default,
    }
}

/// Raw values that etcd validates late, kept until validation.
struct Pending {
    cfg: MemberConfig,
    data_dir: String,
    debug: bool,
    cluster_state: String,
    compaction_mode: String,
}

/// Turns settings into a validated configuration.
pub(crate) fn build(settings: Settings, mode: Mode) -> Result<Parsed, ConfigError> {
    let mut warnings = settings.warnings.clone();
    refuse_and_warn(&settings, &mut warnings)?;

    let mut p = Pending {
        cfg: MemberConfig::default(),
        data_dir: String::new(),
        debug: false,
        cluster_state: "new".to_string(),
        compaction_mode: "periodic".to_string(),
    };
    for (spec, value, _) in settings.values.values() {
        if spec.support.sets_field() {
            apply(&mut p, spec.name, value.clone());
        }
    }
    refuse_tls_urls(&p.cfg, &settings)?;

    // etcd (command line only): listening on chosen client URLs without saying which to
    // advertise drops the default advertise URL, which validation then refuses.
    if mode == Mode::CommandLine
        && settings.is_given("listen-client-urls")
        && !settings.is_given("advertise-client-urls")
    {
        p.cfg.advertise_client_urls.clear();
    }

    validate(&mut p, &mut warnings)?;
    finish(&mut p);
    Ok(Parsed {
        config: p.cfg,
        warnings,
        notes: settings.notes,
    })
}

/// Refuses the settings etcd-rs must not ignore and warns about the ones it ignores.
fn refuse_and_warn(settings: &Settings, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    for (spec, value, origin) in settings.values.values() {
        if is_default(spec, value) {
            continue;
        }
        match spec.support {
            Support::Refused(r) => {
                return Err(ConfigError::Refused {
                    setting: origin.setting(spec.name),
                    what: r.what,
                    instead: r.instead,
                });
            }
            Support::Accepted => warnings.push(match origin {
                Origin::Flag => format!(
                    "etcd-rs: flag --{} is accepted but not implemented yet; ignoring it",
                    spec.name
                ),
                Origin::Env(key) => format!(
                    "etcd-rs: flag --{} (from {key}) is accepted but not implemented yet; ignoring it",
                    spec.name
                ),
                Origin::File => format!(
                    "etcd-rs: config-file key {} is accepted but not implemented yet; ignoring it",
                    spec.name
                ),
            }),
            Support::Validated => warnings.push(format!(
                "etcd-rs: {} has no effect in etcd-rs; ignoring it",
                match origin {
                    Origin::Flag => format!("flag --{}", spec.name),
                    Origin::Env(key) => format!("flag --{} (from {key})", spec.name),
                    Origin::File => format!("config-file key {}", spec.name),
                }
            )),
            Support::Implemented | Support::EtcdIgnored => {}
        }
    }
    Ok(())
}

/// Refuses the URLs that ask for TLS where etcd-rs has none: `unixs://` URLs.
/// `https://` client and metrics URLs are served with the client TLS settings, peer URLs
/// with the peer ones.
fn refuse_tls_urls(cfg: &MemberConfig, settings: &Settings) -> Result<(), ConfigError> {
    let lists = [
        ("listen-client-urls", &cfg.listen_client_urls),
        ("advertise-client-urls", &cfg.advertise_client_urls),
        ("listen-peer-urls", &cfg.listen_peer_urls),
        (
            "initial-advertise-peer-urls",
            &cfg.initial_advertise_peer_urls,
        ),
        ("listen-metrics-urls", &cfg.listen_metrics_urls),
    ];
    let origin = |name: &str| {
        settings
            .values
            .get(name)
            .map_or(Origin::Flag, |(_, _, o)| o.clone())
    };
    for (name, urls) in lists {
        if let Some(url) = urls.iter().find(|u| u.starts_with("unixs://")) {
            return Err(ConfigError::Refused {
                setting: format!("{} URL {url}", origin(name).setting(name)),
                what: "TLS on unix sockets",
                instead: "run without the security it asks for",
            });
        }
    }
    Ok(())
}

/// Sets the field of an implemented flag.
fn apply(p: &mut Pending, name: &str, value: Value) {
    let c = &mut p.cfg;
    match (name, value) {
        ("config-file" | "version", _) => {}
        ("data-dir", Value::Str(s)) => p.data_dir = s,
        ("name", Value::Str(s)) => c.name = s,
        ("listen-peer-urls", Value::List(v)) => c.listen_peer_urls = v,
        ("listen-client-urls", Value::List(v)) => c.listen_client_urls = v,
        ("listen-metrics-urls", Value::List(v)) => c.listen_metrics_urls = v,
        ("initial-advertise-peer-urls", Value::List(v)) => c.initial_advertise_peer_urls = v,
        ("advertise-client-urls", Value::List(v)) => c.advertise_client_urls = v,
        ("max-snapshots", Value::U64(n)) => c.max_snapshots = n,
        ("max-wals", Value::U64(n)) => c.max_wals = n,
        ("snapshot-count", Value::U64(n)) => c.snapshot_count = n,
        ("heartbeat-interval", Value::U64(n)) => c.heartbeat_interval_ms = n,
        ("election-timeout", Value::U64(n)) => c.election_timeout_ms = n,
        ("initial-election-tick-advance", Value::Bool(b)) => c.initial_election_tick_advance = b,
        ("quota-backend-bytes", Value::I64(n)) => c.quota_backend_bytes = n,
        ("max-txn-ops", Value::U64(n)) => c.max_txn_ops = n,
        ("max-request-bytes", Value::U64(n)) => c.max_request_bytes = n,
        ("max-concurrent-streams", Value::U64(n)) => {
            c.max_concurrent_streams = u32::try_from(n).unwrap_or(u32::MAX);
        }
        ("grpc-keepalive-interval", Value::Nanos(n)) => c.grpc_keepalive_interval = dur(n),
        ("grpc-keepalive-timeout", Value::Nanos(n)) => c.grpc_keepalive_timeout = dur(n),
        ("initial-cluster", Value::Str(s)) => c.initial_cluster = s,
        ("initial-cluster-token", Value::Str(s)) => c.initial_cluster_token = s,
        ("initial-cluster-state", Value::Str(s)) => p.cluster_state = s,
        ("strict-reconfig-check", Value::Bool(b)) => c.strict_reconfig_check = b,
        ("auth-token", Value::Str(s)) => c.auth_token = s,
        ("bcrypt-cost", Value::U64(n)) => c.bcrypt_cost = n,
        ("auth-token-ttl", Value::U64(n)) => c.auth_token_ttl = n,
        ("pre-vote", Value::Bool(b)) => c.pre_vote = b,
        ("cors", Value::List(v)) => c.cors = v,
        ("host-whitelist", Value::List(v)) => c.host_whitelist = v,
        ("logger", Value::Str(s)) => c.logger = s,
        ("log-outputs", Value::List(v)) => c.log_outputs = v,
        ("debug", Value::Bool(b)) => p.debug = b,
        ("log-level", Value::Str(s)) => c.log_level = s,
        ("auto-compaction-retention", Value::Str(s)) => c.auto_compaction_retention = s,
        ("auto-compaction-mode", Value::Str(s)) => p.compaction_mode = s,
        ("enable-pprof", Value::Bool(b)) => c.enable_pprof = b,
        ("metrics", Value::Str(s)) => c.metrics = s,
        ("enable-grpc-gateway", Value::Bool(b)) => c.enable_grpc_gateway = b,
        ("experimental-enable-lease-checkpoint", Value::Bool(b)) => {
            c.experimental_enable_lease_checkpoint = b;
        }
        ("experimental-enable-lease-checkpoint-persist", Value::Bool(b)) => {
            c.experimental_enable_lease_checkpoint_persist = b;
        }
        ("experimental-compaction-batch-limit", Value::I64(n)) => {
            c.experimental_compaction_batch_limit = n;
        }
        ("experimental-watch-progress-notify-interval", Value::Nanos(n)) => {
            c.experimental_watch_progress_notify_interval = dur(n);
        }
        ("experimental-warning-apply-duration", Value::Nanos(n)) => {
            c.experimental_warning_apply_duration = dur(n);
        }
        ("unsafe-no-fsync", Value::Bool(b)) => c.unsafe_no_fsync = b,
        ("experimental-initial-corrupt-check", Value::Bool(b)) => {
            c.experimental_initial_corrupt_check = b;
        }
        ("experimental-corrupt-check-time", Value::Nanos(n)) => {
            c.experimental_corrupt_check_time = dur(n);
        }
        ("cert-file", Value::Str(s)) => c.client_tls.cert_file = s,
        ("key-file", Value::Str(s)) => c.client_tls.key_file = s,
        ("trusted-ca-file", Value::Str(s)) => c.client_tls.trusted_ca_file = s,
        ("client-cert-auth", Value::Bool(b)) => c.client_tls.client_cert_auth = b,
        ("client-crl-file", Value::Str(s)) => c.client_tls.crl_file = s,
        ("auto-tls", Value::Bool(b)) => c.client_tls.auto_tls = b,
        ("client-cert-allowed-hostname", Value::Str(s)) => c.client_tls.allowed_hostname = s,
        ("peer-cert-file", Value::Str(s)) => c.peer_tls.cert_file = s,
        ("peer-key-file", Value::Str(s)) => c.peer_tls.key_file = s,
        ("peer-trusted-ca-file", Value::Str(s)) => c.peer_tls.trusted_ca_file = s,
        ("peer-client-cert-auth", Value::Bool(b)) => c.peer_tls.client_cert_auth = b,
        ("peer-crl-file", Value::Str(s)) => c.peer_tls.crl_file = s,
        ("peer-auto-tls", Value::Bool(b)) => c.peer_tls.auto_tls = b,
        ("peer-cert-allowed-cn", Value::Str(s)) => c.peer_tls.allowed_cn = s,
        ("peer-cert-allowed-hostname", Value::Str(s)) => c.peer_tls.allowed_hostname = s,
        ("experimental-peer-skip-client-san-verification", Value::Bool(b)) => {
            c.peer_tls.skip_client_san_verification = b;
        }
        ("cipher-suites", Value::List(v)) => c.cipher_suites = v,
        (name, value) => {
            // The table test applies every implemented flag's default, so a mismatch here
            // is a bug in this file, caught by tests.
            debug_assert!(false, "no field for --{name} = {value:?}");
        }
    }
}

/// A Go duration as a `Duration`; etcd treats negative durations like zero for every
/// implemented flag (disabled, or the default).
fn dur(nanos: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// etcd's largest election timeout (`maxElectionMs`).
const MAX_ELECTION_TIMEOUT_MS: u64 = 50_000;

/// etcd's `embed.Config.Validate`, in etcd's order, with etcd's messages.
fn validate(p: &mut Pending, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    let invalid = ConfigError::Invalid;
    validate_logging(p)?;
    let c = &p.cfg;
    check_bind_urls(&c.listen_peer_urls).map_err(invalid)?;
    check_bind_urls(&c.listen_client_urls).map_err(invalid)?;
    check_bind_urls(&c.listen_metrics_urls).map_err(invalid)?;
    check_host_urls(&c.initial_advertise_peer_urls).map_err(|e| {
        invalid(format!(
            "--initial-advertise-peer-urls {} must be \"host:port\" ({e})",
            quote(&c.initial_advertise_peer_urls.join(","))
        ))
    })?;
    check_host_urls(&c.advertise_client_urls).map_err(|e| {
        invalid(format!(
            "--advertise-client-urls {} must be \"host:port\" ({e})",
            quote(&c.advertise_client_urls.join(","))
        ))
    })?;
    let state = match p.cluster_state.as_str() {
        "new" => ClusterState::New,
        "existing" => ClusterState::Existing,
        other => return Err(invalid(format!("unexpected clusterState {}", quote(other)))),
    };
    let (tick, election) = (c.heartbeat_interval_ms, c.election_timeout_ms);
    if tick == 0 {
        return Err(invalid(format!(
            "--heartbeat-interval must be >0 (set to {tick}ms)"
        )));
    }
    if election == 0 {
        return Err(invalid(format!(
            "--election-timeout must be >0 (set to {election}ms)"
        )));
    }
    // Go multiplies in uint and wraps; so do we, to refuse exactly what etcd refuses.
    if tick.wrapping_mul(5) > election {
        return Err(invalid(format!(
            "--election-timeout[{election}ms] should be at least as 5 times as --heartbeat-interval[{tick}ms]"
        )));
    }
    if election > MAX_ELECTION_TIMEOUT_MS {
        return Err(invalid(format!(
            "--election-timeout[{election}ms] is too long, and should be set less than {MAX_ELECTION_TIMEOUT_MS}ms"
        )));
    }
    if !c.listen_client_urls.is_empty() && c.advertise_client_urls.is_empty() {
        return Err(ConfigError::UnsetAdvertiseClientUrls);
    }
    let compaction = match p.compaction_mode.as_str() {
        "" | "periodic" => CompactionMode::Periodic,
        "revision" => CompactionMode::Revision,
        other => {
            return Err(invalid(format!(
                "unknown auto-compaction-mode {}",
                quote(other)
            )));
        }
    };
    if c.experimental_enable_lease_checkpoint && !c.experimental_enable_lease_checkpoint_persist {
        warnings.push("Detected that checkpointing is enabled without persistence. Consider enabling experimental-enable-lease-checkpoint-persist".to_string());
    }
    if c.experimental_enable_lease_checkpoint_persist && !c.experimental_enable_lease_checkpoint {
        return Err(invalid(
            "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint".to_string(),
        ));
    }
    // etcd parses the retention when it starts the server, just after validation.
    parse_compaction(compaction, &c.auto_compaction_retention)?;
    validate_auth(c)?;
    p.cfg.initial_cluster_state = state;
    p.cfg.auto_compaction_mode = compaction;
    Ok(())
}

/// The part of etcd's `setupLogging` that can refuse a configuration.
/// bcrypt's bounds on --bcrypt-cost.
const BCRYPT_COST_MIN: u64 = 4;
/// See [`BCRYPT_COST_MIN`].
const BCRYPT_COST_MAX: u64 = 31;

/// --auth-token and --bcrypt-cost, checked as etcd checks them when it starts the server.
fn validate_auth(c: &MemberConfig) -> Result<(), ConfigError> {
    if !(BCRYPT_COST_MIN..=BCRYPT_COST_MAX).contains(&c.bcrypt_cost) {
        return Err(ConfigError::Invalid(format!(
            "invalid bcrypt-cost {} (it must be between {BCRYPT_COST_MIN} and {BCRYPT_COST_MAX})",
            c.bcrypt_cost
        )));
    }
    c.jwt_tokens().map(|_| ())
}

impl MemberConfig {
    /// The JWT keys `--auth-token jwt,...` names, read from their files (None for
    /// simple tokens). etcd reads the options and the key files when it starts the
    /// server; a failure stops it with its error and exit status 1, as here.
    pub fn jwt_tokens(
        &self,
    ) -> Result<Option<std::sync::Arc<crate::auth::jwt::JwtTokens>>, ConfigError> {
        use crate::auth::jwt::{JwtTokens, TokenKind, parse_token_option};
        let fatal = |e: crate::auth::jwt::TokenOptionError| ConfigError::Fatal(e.to_string());
        match parse_token_option(&self.auth_token, goparse::parse_duration).map_err(fatal)? {
            TokenKind::Simple => Ok(None),
            TokenKind::Jwt(options) => JwtTokens::load(&options)
                .map(|tokens| Some(std::sync::Arc::new(tokens)))
                .map_err(fatal),
        }
    }
}

fn validate_logging(p: &Pending) -> Result<(), ConfigError> {
    let c = &p.cfg;
    match c.logger.as_str() {
        "capnslog" => {
            if c.log_outputs.len() != 1 {
                return Err(ConfigError::Invalid(format!(
                    "--logger=capnslog supports only 1 value in '--log-outputs', got {}",
                    goparse::quote_list(&c.log_outputs)
                )));
            }
            let out = &c.log_outputs[0];
            if !matches!(out.as_str(), "default" | "stderr" | "stdout") {
                return Err(ConfigError::Invalid(format!(
                    "unknown log-output {} (only supports \"default\", \"stderr\", \"stdout\")",
                    quote(out)
                )));
            }
        }
        "zap" => {
            if c.log_outputs.len() > 1 && c.log_outputs.iter().any(|o| o == "default") {
                return Err(ConfigError::Invalid(
                    "multi logoutput for \"default\" is not supported yet".to_string(),
                ));
            }
        }
        other => {
            return Err(ConfigError::Invalid(format!(
                "unknown logger option {}",
                quote(other)
            )));
        }
    }
    const LEVELS: [&str; 7] = ["debug", "info", "warn", "error", "dpanic", "panic", "fatal"];
    if !LEVELS.contains(&c.log_level.as_str()) {
        // etcd 3.4 panics with `unknown level "x"`; refusing with its words is the
        // drop-in behaviour without the stack trace.
        return Err(ConfigError::Invalid(format!(
            "unknown level {} (--log-level supports {})",
            quote(&c.log_level),
            LEVELS.join(", ")
        )));
    }
    Ok(())
}

/// What etcd fills in after validation: `--initial-cluster` from a non-default name
/// (`UpdateDefaultClusterFromName`), the data directory from the name, `--debug`.
fn finish(p: &mut Pending) {
    let c = &mut p.cfg;
    if c.name != "default" && c.initial_cluster == super::DEFAULT_INITIAL_CLUSTER {
        c.initial_cluster = initial_cluster_from_name(&c.name, &c.initial_advertise_peer_urls);
    }
    c.data_dir = if p.data_dir.is_empty() {
        PathBuf::from(format!("{}.etcd", c.name))
    } else {
        PathBuf::from(&p.data_dir)
    };
    if p.debug {
        c.log_level = "debug".to_string();
    }
}

/// etcd's `InitialClusterFromName`: `name=url` for each advertised peer URL.
pub(crate) fn initial_cluster_from_name(name: &str, peer_urls: &[String]) -> String {
    let name = if name.is_empty() { "default" } else { name };
    peer_urls
        .iter()
        .map(|u| format!("{name}={u}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// etcd's `parseCompactionRetention`.
pub(crate) fn parse_compaction(
    mode: CompactionMode,
    retention: &str,
) -> Result<AutoCompaction, ConfigError> {
    // Go's strconv.Atoi: optional sign, decimal digits, fits in an int.
    let whole = retention.parse::<i64>().ok();
    match whole {
        Some(0) => Ok(AutoCompaction::Disabled),
        Some(h) if h > 0 => Ok(match mode {
            CompactionMode::Revision => AutoCompaction::Revision(h.unsigned_abs()),
            CompactionMode::Periodic => {
                AutoCompaction::Periodic(Duration::from_secs(h.unsigned_abs().saturating_mul(3600)))
            }
        }),
        _ => {
            let nanos = goparse::parse_duration(retention).map_err(|e| {
                ConfigError::Fatal(format!("error parsing CompactionRetention: {e}"))
            })?;
            // A periodic retention read as a duration; etcd uses it whatever the mode.
            Ok(match u64::try_from(nanos) {
                Ok(0) | Err(_) => AutoCompaction::Disabled,
                Ok(n) => match mode {
                    CompactionMode::Periodic => AutoCompaction::Periodic(Duration::from_nanos(n)),
                    CompactionMode::Revision => AutoCompaction::Revision(n),
                },
            })
        }
    }
}

/// The parsed `--initial-cluster`, as etcd reads it when it bootstraps.
pub(crate) fn initial_cluster_map(
    initial_cluster: &str,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    new_urls_map(initial_cluster)
        .map_err(|e| ConfigError::Fatal(format!("error setting up initial cluster: {e}")))
}

#[cfg(test)]
mod tests {
    use super::super::flags;
    use super::*;

    /// Applying each implemented flag's default to the default configuration changes
    /// nothing: the table's defaults and types agree with `MemberConfig::default()`.
    #[test]
    fn implemented_defaults_match_member_config_default() {
        let mut settings = Settings::default();
        for spec in flags::FLAGS {
            if spec.support.sets_field() {
                settings.set(spec, spec.default_value(), Origin::Flag);
            }
        }
        let parsed = build(settings, Mode::ConfigFile).unwrap();
        assert_eq!(parsed.config, MemberConfig::default());
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    }

    #[test]
    fn compaction_retention_reads_like_etcd() {
        use AutoCompaction::*;
        let p = CompactionMode::Periodic;
        let r = CompactionMode::Revision;
        assert_eq!(parse_compaction(p, "0"), Ok(Disabled));
        assert_eq!(
            parse_compaction(p, "5"),
            Ok(Periodic(Duration::from_secs(5 * 3600)))
        );
        assert_eq!(
            parse_compaction(p, "30m"),
            Ok(Periodic(Duration::from_secs(1800)))
        );
        assert_eq!(parse_compaction(r, "1000"), Ok(Revision(1000)));
        assert_eq!(
            parse_compaction(p, "abc"),
            Err(ConfigError::Fatal(
                r#"error parsing CompactionRetention: time: invalid duration "abc""#.into()
            ))
        );
    }
}
