//! The table of every flag etcd 3.4 defines (`etcdmain/config.go` of etcd 3.4.23), what
//! etcd-rs does with each, and how each flag's value is read.
//!
//! A flag is one of:
//! - [`Support::Implemented`]: it sets a typed field of [`MemberConfig`](super::MemberConfig).
//! - [`Support::Validated`]: read and checked as etcd reads it (a bad value stops
//!   start-up with etcd's message) and kept in its field, but without effect in etcd-rs:
//!   a warning names it when it is set to anything but etcd's default.
//! - [`Support::Accepted`]: accepted (so existing command lines and config files still
//!   start), and a warning names it when it is set to anything but etcd's default.
//! - [`Support::Refused`]: setting it to anything but etcd's default stops start-up with an
//!   error, because running without it would start something other than what was asked
//!   for (discovery, proxy mode, a forced new cluster).
//! - [`Support::EtcdIgnored`]: flags etcd itself accepts and ignores with a warning.

use super::goparse::{parse_bool, parse_duration, parse_int, parse_uint};
use super::url::new_urls_csv;

/// How a flag's value is written and read, after Go's `flag` package and etcd's
/// `pkg/flags` value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Any string.
    String,
    /// A Go bool (`true`, `false`, `1`, `0`, `t`, `f`, ...); `--flag` alone means true.
    Bool,
    /// A Go `uint` (64-bit here), base prefixes allowed.
    Uint,
    /// A Go `uint64`.
    Uint64,
    /// A Go `uint32` (etcd's `flags.uint32Value`, which reports raw `strconv` errors).
    Uint32,
    /// A Go `int` (64-bit here).
    Int,
    /// A Go `int64`.
    Int64,
    /// A Go `time.Duration` (`100ms`, `10m`, `1h30m`); in the config file, nanoseconds.
    Duration,
    /// Comma-separated URLs (etcd's `UniqueURLs`); an empty value leaves the default.
    Urls,
    /// Comma-separated URLs, or `*` for any origin (etcd's `--cors`).
    UrlsOrStar,
    /// A comma-separated list kept in order (etcd's `StringsValue`).
    Strings,
    /// A comma-separated set, sorted (etcd's `UniqueStringsValue`).
    UniqueStrings,
    /// One of a fixed set of words (etcd's `SelectiveStringValue`).
    Choice(&'static [&'static str]),
    /// A flag etcd ignores; takes no value.
    Ignored,
}

impl ValueType {
    /// Whether the flag is a Go bool flag: `--flag` alone sets it, `--flag value` does not.
    pub fn is_bool(self) -> bool {
        matches!(self, ValueType::Bool | ValueType::Ignored)
    }

    /// A short name for the value's type, for tables and help.
    pub fn type_name(self) -> &'static str {
        match self {
            ValueType::String | ValueType::Choice(_) => "string",
            ValueType::Bool | ValueType::Ignored => "bool",
            ValueType::Uint | ValueType::Uint64 | ValueType::Uint32 => "uint",
            ValueType::Int | ValueType::Int64 => "int",
            ValueType::Duration => "duration",
            ValueType::Urls | ValueType::UrlsOrStar => "urls",
            ValueType::Strings | ValueType::UniqueStrings => "strings",
        }
    }
}

/// Why etcd-rs refuses a flag that is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// What the flag asks for, in a few words ("TLS", "discovery bootstrap").
    pub what: &'static str,
    /// What starting anyway would do instead; ends the error sentence.
    pub instead: &'static str,
}

/// What etcd-rs does with a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Sets a typed field of the member configuration.
    Implemented,
    /// Sets its field, as etcd validates it, but has no effect; warned about when set to
    /// a value other than etcd's default.
    Validated,
    /// Accepted; warned about when set to a value other than etcd's default.
    Accepted,
    /// Refused when set to a value other than etcd's default.
    Refused(Refusal),
    /// etcd's own ignored flags (`-v`, `-snapshot`, ...): accepted with etcd's warning.
    EtcdIgnored,
}

/// One etcd flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagSpec {
    /// The flag's name without dashes.
    pub name: &'static str,
    /// What etcd-rs does with it.
    pub support: Support,
    /// How its value is read.
    pub value: ValueType,
    /// etcd's default, written as a flag value would be.
    pub default: &'static str,
    /// Whether etcd's YAML config file has a top-level key of the same name.
    pub in_config_file: bool,
}

impl FlagSpec {
    /// The `ETCD_*` environment variable etcd reads this flag from.
    pub fn env_name(&self) -> String {
        format!("ETCD_{}", self.name.replace('-', "_").to_ascii_uppercase())
    }

    /// The default as a parsed value.
    pub fn default_value(&self) -> Value {
        // Every default in the table parses; the table test proves it.
        parse_value(self, self.default).unwrap_or(Value::Keep)
    }
}

impl Support {
    /// Whether the flag's value is read into its field of the member configuration.
    pub fn sets_field(self) -> bool {
        matches!(self, Support::Implemented | Support::Validated)
    }
}

use Support::{Accepted, EtcdIgnored, Implemented, Refused, Validated};
use ValueType as T;

const fn f(
    name: &'static str,
    support: Support,
    value: ValueType,
    default: &'static str,
    in_config_file: bool,
) -> FlagSpec {
    FlagSpec {
        name,
        support,
        value,
        default,
        in_config_file,
    }
}

const CLUSTER_STATES: &[&str] = &["new", "existing"];
const FALLBACKS: &[&str] = &["proxy", "exit"];
const PROXY_MODES: &[&str] = &["off", "readonly", "on"];
const BOOTSTRAP_INSTEAD: &str = "bootstrap a different cluster than the one it asks for";

/// Every flag of etcd 3.4.23, in the order of `etcdmain/config.go`, then etcd's ignored
/// flags.
pub const FLAGS: &[FlagSpec] = &[
    f("config-file", Implemented, T::String, "", false),
    // member
    f("data-dir", Implemented, T::String, "", true),
    f("wal-dir", Accepted, T::String, "", true),
    f(
        "listen-peer-urls",
        Implemented,
        T::Urls,
        "http://localhost:2380",
        true,
    ),
    f(
        "listen-client-urls",
        Implemented,
        T::Urls,
        "http://localhost:2379",
        true,
    ),
    f("listen-metrics-urls", Implemented, T::Urls, "", true),
    f("max-snapshots", Validated, T::Uint, "5", true),
    f("max-wals", Validated, T::Uint, "5", true),
    f("name", Implemented, T::String, "default", true),
    f("snapshot-count", Implemented, T::Uint64, "100000", true),
    f("heartbeat-interval", Implemented, T::Uint, "100", true),
    f("election-timeout", Implemented, T::Uint, "1000", true),
    f(
        "initial-election-tick-advance",
        Validated,
        T::Bool,
        "true",
        true,
    ),
    f("quota-backend-bytes", Implemented, T::Int64, "0", true),
    f("backend-batch-interval", Accepted, T::Duration, "0", true),
    f("backend-batch-limit", Accepted, T::Int, "0", true),
    f("max-txn-ops", Implemented, T::Uint, "128", true),
    f("max-request-bytes", Implemented, T::Uint, "1572864", true),
    // Accepted, not enforced: hyper's HTTP/2 server has no minimum ping interval.
    f("grpc-keepalive-min-time", Accepted, T::Duration, "5s", true),
    f(
        "grpc-keepalive-interval",
        Implemented,
        T::Duration,
        "2h",
        true,
    ),
    f(
        "grpc-keepalive-timeout",
        Implemented,
        T::Duration,
        "20s",
        true,
    ),
    f(
        "max-concurrent-streams",
        Implemented,
        T::Uint32,
        "4294967295",
        true,
    ),
    // clustering
    f(
        "initial-advertise-peer-urls",
        Implemented,
        T::Urls,
        "http://localhost:2380",
        true,
    ),
    f(
        "advertise-client-urls",
        Implemented,
        T::Urls,
        "http://localhost:2379",
        true,
    ),
    f(
        "discovery",
        Refused(Refusal {
            what: "discovery bootstrap",
            instead: BOOTSTRAP_INSTEAD,
        }),
        T::String,
        "",
        true,
    ),
    f(
        "discovery-fallback",
        Accepted,
        T::Choice(FALLBACKS),
        "proxy",
        true,
    ),
    f("discovery-proxy", Accepted, T::String, "", true),
    f(
        "discovery-srv",
        Refused(Refusal {
            what: "DNS discovery bootstrap",
            instead: BOOTSTRAP_INSTEAD,
        }),
        T::String,
        "",
        true,
    ),
    f(
        "discovery-srv-name",
        Refused(Refusal {
            what: "DNS discovery bootstrap",
            instead: BOOTSTRAP_INSTEAD,
        }),
        T::String,
        "",
        true,
    ),
    f(
        "initial-cluster",
        Implemented,
        T::String,
        "default=http://localhost:2380",
        true,
    ),
    f(
        "initial-cluster-token",
        Implemented,
        T::String,
        "etcd-cluster",
        true,
    ),
    f(
        "initial-cluster-state",
        Implemented,
        T::Choice(CLUSTER_STATES),
        "new",
        true,
    ),
    f("strict-reconfig-check", Implemented, T::Bool, "true", true),
    f("enable-v2", Accepted, T::Bool, "false", true),
    f("pre-vote", Implemented, T::Bool, "false", true),
    // proxy
    f(
        "proxy",
        Refused(Refusal {
            what: "v2 proxy mode",
            instead: "start a cluster member instead of a proxy",
        }),
        T::Choice(PROXY_MODES),
        "off",
        true,
    ),
    f("proxy-failure-wait", Accepted, T::Uint, "5000", true),
    f("proxy-refresh-interval", Accepted, T::Uint, "30000", true),
    f("proxy-dial-timeout", Accepted, T::Uint, "1000", true),
    f("proxy-write-timeout", Accepted, T::Uint, "5000", true),
    f("proxy-read-timeout", Accepted, T::Uint, "0", true),
    // security: only in the config file's transport-security sections, except cipher-suites
    f("cert-file", Implemented, T::String, "", false),
    f("key-file", Implemented, T::String, "", false),
    f("client-cert-auth", Implemented, T::Bool, "false", false),
    f("client-crl-file", Implemented, T::String, "", false),
    f(
        "client-cert-allowed-hostname",
        Implemented,
        T::String,
        "",
        false,
    ),
    f("trusted-ca-file", Implemented, T::String, "", false),
    f("auto-tls", Implemented, T::Bool, "false", false),
    f("peer-cert-file", Implemented, T::String, "", false),
    f("peer-key-file", Implemented, T::String, "", false),
    f(
        "peer-client-cert-auth",
        Implemented,
        T::Bool,
        "false",
        false,
    ),
    f("peer-trusted-ca-file", Implemented, T::String, "", false),
    f("peer-auto-tls", Implemented, T::Bool, "false", false),
    f("peer-crl-file", Implemented, T::String, "", false),
    f("peer-cert-allowed-cn", Implemented, T::String, "", false),
    f(
        "peer-cert-allowed-hostname",
        Implemented,
        T::String,
        "",
        false,
    ),
    f("cipher-suites", Implemented, T::Strings, "", true),
    f(
        "experimental-peer-skip-client-san-verification",
        Implemented,
        T::Bool,
        "false",
        false,
    ),
    f("cors", Implemented, T::UrlsOrStar, "*", true),
    f("host-whitelist", Validated, T::UniqueStrings, "*", true),
    // logging
    f("logger", Validated, T::String, "capnslog", true),
    f("log-output", Accepted, T::UniqueStrings, "default", true),
    f("log-outputs", Validated, T::UniqueStrings, "default", true),
    f("debug", Implemented, T::Bool, "false", true),
    f("log-level", Validated, T::String, "info", true),
    f("log-package-levels", Accepted, T::String, "", true),
    // version
    f("version", Implemented, T::Bool, "false", false),
    f(
        "auto-compaction-retention",
        Implemented,
        T::String,
        "0",
        true,
    ),
    f(
        "auto-compaction-mode",
        Implemented,
        T::String,
        "periodic",
        true,
    ),
    f("enable-pprof", Validated, T::Bool, "false", true),
    f("metrics", Implemented, T::String, "basic", true),
    // auth
    f("auth-token", Implemented, T::String, "simple", true),
    f("bcrypt-cost", Implemented, T::Uint, "10", true),
    f("auth-token-ttl", Implemented, T::Uint, "300", true),
    f("enable-grpc-gateway", Implemented, T::Bool, "true", true),
    // experimental
    f(
        "experimental-initial-corrupt-check",
        Implemented,
        T::Bool,
        "false",
        true,
    ),
    f(
        "experimental-corrupt-check-time",
        Implemented,
        T::Duration,
        "0",
        true,
    ),
    f("experimental-enable-v2v3", Accepted, T::String, "", true),
    f(
        "experimental-backend-bbolt-freelist-type",
        Accepted,
        T::String,
        "",
        true,
    ),
    f(
        "experimental-enable-lease-checkpoint",
        Implemented,
        T::Bool,
        "false",
        true,
    ),
    f(
        "experimental-enable-lease-checkpoint-persist",
        Implemented,
        T::Bool,
        "false",
        true,
    ),
    f(
        "experimental-compaction-batch-limit",
        Validated,
        T::Int,
        "0",
        true,
    ),
    f(
        "experimental-watch-progress-notify-interval",
        Implemented,
        T::Duration,
        "0",
        true,
    ),
    f(
        "experimental-warning-apply-duration",
        Validated,
        T::Duration,
        "100ms",
        true,
    ),
    // unsafe
    f("unsafe-no-fsync", Validated, T::Bool, "false", true),
    f(
        "force-new-cluster",
        Refused(Refusal {
            what: "forcing a new one-member cluster",
            instead: "restart the old cluster instead",
        }),
        T::Bool,
        "false",
        true,
    ),
    // etcd's ignored flags (etcdmain/config.go `ignored`)
    f("cluster-active-size", EtcdIgnored, T::Ignored, "", false),
    f("cluster-remove-delay", EtcdIgnored, T::Ignored, "", false),
    f("cluster-sync-interval", EtcdIgnored, T::Ignored, "", false),
    f("config", EtcdIgnored, T::Ignored, "", false),
    f("force", EtcdIgnored, T::Ignored, "", false),
    f("max-result-buffer", EtcdIgnored, T::Ignored, "", false),
    f("max-retry-attempts", EtcdIgnored, T::Ignored, "", false),
    f(
        "peer-heartbeat-interval",
        EtcdIgnored,
        T::Ignored,
        "",
        false,
    ),
    f("peer-election-timeout", EtcdIgnored, T::Ignored, "", false),
    f("retry-interval", EtcdIgnored, T::Ignored, "", false),
    f("snapshot", EtcdIgnored, T::Ignored, "", false),
    f("v", EtcdIgnored, T::Ignored, "", false),
    f("vv", EtcdIgnored, T::Ignored, "", false),
    f("test.coverprofile", EtcdIgnored, T::Ignored, "", false),
    f("test.outputdir", EtcdIgnored, T::Ignored, "", false),
];

/// The flag of that name, if etcd defines one.
pub fn lookup(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|s| s.name == name)
}

/// A listing of every flag for `--help`: name, value type, etcd's default, and what
/// etcd-rs does with it when that is not "implemented".
pub fn usage() -> String {
    let mut out = String::from("flags (etcd 3.4's; each also read from ETCD_<FLAG>):\n");
    for spec in FLAGS {
        if spec.support == Support::EtcdIgnored {
            continue;
        }
        let mut line = format!("  --{} {}", spec.name, spec.value.type_name());
        if !spec.default.is_empty() {
            line.push_str(&format!(" (default {:?})", spec.default));
        }
        match spec.support {
            Support::Accepted => line.push_str(" [accepted, not implemented yet]"),
            Support::Validated => line.push_str(" [checked, but no effect in etcd-rs]"),
            Support::Refused(r) => {
                line.push_str(&format!(
                    " [{} not implemented yet: refused if set]",
                    r.what
                ));
            }
            Support::Implemented | Support::EtcdIgnored => {}
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A flag's value once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string, or a choice.
    Str(String),
    /// A bool.
    Bool(bool),
    /// An unsigned number.
    U64(u64),
    /// A signed number.
    I64(i64),
    /// A duration in nanoseconds (Go's `time.Duration`, which may be negative).
    Nanos(i64),
    /// A list: URLs (canonical, sorted), or strings.
    List(Vec<String>),
    /// An empty URL list, which etcd takes as "leave the value as it was".
    Keep,
}

/// Reads a flag's text as etcd's flag value `Set` would. The error is the text Go's flag
/// package puts after `invalid value "x" for flag -name: `.
pub fn parse_value(spec: &FlagSpec, raw: &str) -> Result<Value, String> {
    let num = |e: super::goparse::NumError| e.flag_text().to_string();
    Ok(match spec.value {
        T::String => Value::Str(raw.to_string()),
        T::Bool => Value::Bool(parse_bool(raw).map_err(num)?),
        T::Uint | T::Uint64 => Value::U64(parse_uint(raw, 64).map_err(num)?),
        T::Uint32 => Value::U64(parse_uint(raw, 32).map_err(|e| e.strconv_text("ParseUint", raw))?),
        T::Int | T::Int64 => Value::I64(parse_int(raw, 64).map_err(num)?),
        T::Duration => Value::Nanos(parse_duration(raw).map_err(|_| "parse error".to_string())?),
        T::Urls if raw.is_empty() => Value::Keep,
        T::UrlsOrStar if raw == "*" => Value::List(vec!["*".to_string()]),
        T::Urls | T::UrlsOrStar => Value::List(new_urls_csv(raw)?),
        T::Strings => Value::List(strings_list(raw)),
        T::UniqueStrings => Value::List(unique_strings(raw)),
        T::Choice(valid) => {
            if valid.contains(&raw) {
                Value::Str(raw.to_string())
            } else {
                return Err("invalid value".to_string());
            }
        }
        T::Ignored => Value::Keep,
    })
}

/// etcd's `StringsValue`: split on commas, in order; empty means none.
fn strings_list(raw: &str) -> Vec<String> {
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(',').map(str::to_string).collect()
}

/// etcd's `UniqueStringsValue`: split on commas, deduplicated, sorted.
pub fn unique_strings(raw: &str) -> Vec<String> {
    let mut v: Vec<String> = raw.split(',').map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses_as_its_own_type() {
        for spec in FLAGS {
            assert!(
                parse_value(spec, spec.default).is_ok(),
                "default {:?} of --{} does not parse",
                spec.default,
                spec.name
            );
        }
    }

    #[test]
    fn every_flag_name_is_unique() {
        for (i, a) in FLAGS.iter().enumerate() {
            assert!(
                FLAGS[i + 1..].iter().all(|b| b.name != a.name),
                "--{} twice",
                a.name
            );
        }
    }

    /// The 86 flags of etcd 3.4.23's `etcdmain/config.go` plus its 15 ignored ones.
    #[test]
    fn the_table_has_every_etcd_3_4_flag() {
        assert_eq!(FLAGS.len(), 86 + 15);
    }

    #[test]
    fn usage_lists_every_flag_but_etcds_ignored_ones() {
        let u = usage();
        assert!(u.contains("  --name string (default \"default\")\n"));
        assert!(u.contains("  --cert-file string\n"));
        assert!(u.contains(
            "  --discovery string [discovery bootstrap not implemented yet: refused if set]\n"
        ));
        assert!(
            u.contains("  --enable-v2 bool (default \"false\") [accepted, not implemented yet]\n")
        );
        assert!(!u.contains("--vv"));
    }

    #[test]
    fn env_names_follow_etcds_rule() {
        let spec = lookup("initial-cluster-token").unwrap();
        assert_eq!(spec.env_name(), "ETCD_INITIAL_CLUSTER_TOKEN");
        assert_eq!(
            lookup("test.coverprofile").unwrap().env_name(),
            "ETCD_TEST.COVERPROFILE"
        );
    }
}
