//! End-to-end tests of [`parse`](super::parse) and
//! [`parse_config_file`](super::parse_config_file): flags, environment, config file.
//!
//! Error texts marked "etcd 3.4.23" were read from the real etcd binary given the same
//! input.

use std::path::PathBuf;
use std::time::Duration;

use super::dev::DevOptions;
use super::flags::{FLAGS, Support, ValueType};
use super::*;
use crate::raft::NodeId;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn env(e: &[(&str, &str)]) -> Vec<(String, String)> {
    e.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ok(a: &[&str], e: &[(&str, &str)]) -> Parsed {
    match parse(&args(a), &env(e)) {
        Ok(p) => p,
        Err(err) => panic!("{a:?} {e:?} refused: {err}"),
    }
}

fn fail(a: &[&str], e: &[(&str, &str)]) -> ConfigError {
    match parse(&args(a), &env(e)) {
        Ok(p) => panic!("{a:?} {e:?} accepted: {p:?}"),
        Err(err) => err,
    }
}

fn yaml_ok(text: &str) -> Parsed {
    match parse_config_file(text) {
        Ok(p) => p,
        Err(err) => panic!("config file refused: {err}\n{text}"),
    }
}

fn yaml_fail(text: &str) -> ConfigError {
    match parse_config_file(text) {
        Ok(p) => panic!("config file accepted: {p:?}\n{text}"),
        Err(err) => err,
    }
}

fn invalid(msg: &str) -> ConfigError {
    ConfigError::Invalid(msg.to_string())
}

/// A config file on disk, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, text: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("etcd-rs-config-{}-{tag}.yaml", std::process::id()));
        std::fs::write(&path, text).expect("write temp config file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn no_flags_give_etcds_defaults() {
    let p = ok(&[], &[]);
    assert_eq!(p.config, MemberConfig::default());
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.config.data_dir, PathBuf::from("default.etcd"));
    assert_eq!(p.config.initial_cluster, "default=http://localhost:2380");
    assert_eq!(
        p.config.quota_backend_bytes_limit(),
        Some(DEFAULT_QUOTA_BACKEND_BYTES)
    );
    assert_eq!(
        p.config.watch_progress_notify_interval(),
        Duration::from_secs(600)
    );
    assert_eq!(p.config.election_ticks(), 10);
}

type Check = fn(&MemberConfig) -> bool;

/// Each implemented flag: its flag value, the same in the config file, other flags it
/// needs, and what the configuration must then say.
const IMPLEMENTED: &[(&str, &str, &str, &[&str], Check)] = &[
    ("name", "n1", "n1", &[], |c| c.name == "n1"),
    ("data-dir", "/var/d", "/var/d", &[], |c| {
        c.data_dir == std::path::Path::new("/var/d")
    }),
    (
        "listen-client-urls",
        "http://127.0.0.1:1,http://0.0.0.0:2",
        "http://127.0.0.1:1,http://0.0.0.0:2",
        &["--advertise-client-urls=http://a:1"],
        |c| c.listen_client_urls == ["http://0.0.0.0:2", "http://127.0.0.1:1"],
    ),
    (
        "advertise-client-urls",
        "http://h:1",
        "http://h:1",
        &[],
        |c| c.advertise_client_urls == ["http://h:1"],
    ),
    (
        "listen-peer-urls",
        "http://10.0.0.1:2380",
        "http://10.0.0.1:2380",
        &[],
        |c| c.listen_peer_urls == ["http://10.0.0.1:2380"],
    ),
    (
        "initial-advertise-peer-urls",
        "http://h:2380",
        "http://h:2380",
        &[],
        |c| c.initial_advertise_peer_urls == ["http://h:2380"],
    ),
    (
        "listen-metrics-urls",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        &[],
        |c| c.listen_metrics_urls == ["http://127.0.0.1:9"],
    ),
    (
        "initial-cluster",
        "default=http://localhost:2380,b=http://b:2380",
        "default=http://localhost:2380,b=http://b:2380",
        &[],
        |c| c.initial_cluster == "default=http://localhost:2380,b=http://b:2380",
    ),
    ("initial-cluster-state", "existing", "existing", &[], |c| {
        c.initial_cluster_state == ClusterState::Existing
    }),
    ("initial-cluster-token", "tok", "tok", &[], |c| {
        c.initial_cluster_token == "tok"
    }),
    ("heartbeat-interval", "50", "50", &[], |c| {
        c.heartbeat_interval_ms == 50
    }),
    ("election-timeout", "5000", "5000", &[], |c| {
        c.election_timeout_ms == 5000
    }),
    (
        "initial-election-tick-advance",
        "false",
        "false",
        &[],
        |c| !c.initial_election_tick_advance,
    ),
    ("snapshot-count", "42", "42", &[], |c| {
        c.snapshot_count == 42
    }),
    ("max-snapshots", "0", "0", &[], |c| c.max_snapshots == 0),
    ("max-wals", "9", "9", &[], |c| c.max_wals == 9),
    ("quota-backend-bytes", "-1", "-1", &[], |c| {
        c.quota_backend_bytes == -1 && c.quota_backend_bytes_limit().is_none()
    }),
    ("max-request-bytes", "0x100000", "0x100000", &[], |c| {
        c.max_request_bytes == 1 << 20
    }),
    ("max-txn-ops", "256", "256", &[], |c| c.max_txn_ops == 256),
    ("max-concurrent-streams", "100", "100", &[], |c| {
        c.max_concurrent_streams == 100
    }),
    ("grpc-keepalive-interval", "1m", "60000000000", &[], |c| {
        c.grpc_keepalive_interval == Duration::from_secs(60)
    }),
    ("grpc-keepalive-timeout", "0", "0", &[], |c| {
        c.grpc_keepalive_timeout == Duration::ZERO
    }),
    ("strict-reconfig-check", "false", "false", &[], |c| {
        !c.strict_reconfig_check
    }),
    ("pre-vote", "true", "true", &[], |c| c.pre_vote),
    ("auth-token", "simple", "simple", &[], |c| {
        c.auth_token == "simple"
    }),
    ("bcrypt-cost", "4", "4", &[], |c| c.bcrypt_cost == 4),
    ("auth-token-ttl", "2", "2", &[], |c| c.auth_token_ttl == 2),
    ("cors", "http://a:1", "http://a:1", &[], |c| {
        c.cors == ["http://a:1"]
    }),
    ("host-whitelist", "b,a,b", "b,a,b", &[], |c| {
        c.host_whitelist == ["a", "b"]
    }),
    ("logger", "zap", "zap", &[], |c| c.logger == "zap"),
    ("log-outputs", "stderr", "[stderr]", &[], |c| {
        c.log_outputs == ["stderr"]
    }),
    ("log-level", "warn", "warn", &[], |c| c.log_level == "warn"),
    ("debug", "true", "true", &[], |c| c.log_level == "debug"),
    ("auto-compaction-mode", "revision", "revision", &[], |c| {
        c.auto_compaction_mode == CompactionMode::Revision
    }),
    ("auto-compaction-retention", "2h", "2h", &[], |c| {
        c.auto_compaction() == Ok(AutoCompaction::Periodic(Duration::from_secs(7200)))
    }),
    ("enable-pprof", "true", "true", &[], |c| c.enable_pprof),
    ("metrics", "extensive", "extensive", &[], |c| {
        c.metrics == "extensive"
    }),
    ("enable-grpc-gateway", "false", "false", &[], |c| {
        !c.enable_grpc_gateway
    }),
    (
        "experimental-enable-lease-checkpoint",
        "true",
        "true",
        &[],
        |c| c.experimental_enable_lease_checkpoint,
    ),
    (
        "experimental-enable-lease-checkpoint-persist",
        "true",
        "true",
        &["--experimental-enable-lease-checkpoint"],
        |c| c.experimental_enable_lease_checkpoint_persist,
    ),
    (
        "experimental-compaction-batch-limit",
        "1000",
        "1000",
        &[],
        |c| c.experimental_compaction_batch_limit == 1000,
    ),
    (
        "experimental-watch-progress-notify-interval",
        "5s",
        "5000000000",
        &[],
        |c| c.watch_progress_notify_interval() == Duration::from_secs(5),
    ),
    (
        "experimental-warning-apply-duration",
        "1s",
        "1000000000",
        &[],
        |c| c.experimental_warning_apply_duration == Duration::from_secs(1),
    ),
    ("unsafe-no-fsync", "true", "true", &[], |c| {
        c.unsafe_no_fsync
    }),
    (
        "experimental-initial-corrupt-check",
        "true",
        "true",
        &[],
        |c| c.experimental_initial_corrupt_check,
    ),
    (
        "experimental-corrupt-check-time",
        "2m",
        "120000000000",
        &[],
        |c| c.experimental_corrupt_check_time == Duration::from_secs(120),
    ),
    (
        "cipher-suites",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "[TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]",
        &[],
        |c| {
            c.cipher_suites
                == [
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                ]
        },
    ),
];

/// The TLS flags that only the command line and the environment set (the config file
/// has them in its transport-security sections): flag, value, check.
const TLS_FLAGS: &[(&str, &str, Check)] = &[
    ("cert-file", "/c.crt", |c| {
        c.client_tls.cert_file == "/c.crt"
    }),
    ("key-file", "/c.key", |c| c.client_tls.key_file == "/c.key"),
    ("trusted-ca-file", "/ca.crt", |c| {
        c.client_tls.trusted_ca_file == "/ca.crt"
    }),
    ("client-cert-auth", "true", |c| {
        c.client_tls.client_cert_auth
    }),
    ("client-crl-file", "/c.crl", |c| {
        c.client_tls.crl_file == "/c.crl"
    }),
    ("auto-tls", "true", |c| c.client_tls.auto_tls),
    ("client-cert-allowed-hostname", "h", |c| {
        c.client_tls.allowed_hostname == "h"
    }),
    ("peer-cert-file", "/p.crt", |c| {
        c.peer_tls.cert_file == "/p.crt"
    }),
    ("peer-key-file", "/p.key", |c| {
        c.peer_tls.key_file == "/p.key"
    }),
    ("peer-trusted-ca-file", "/ca.crt", |c| {
        c.peer_tls.trusted_ca_file == "/ca.crt"
    }),
    ("peer-client-cert-auth", "true", |c| {
        c.peer_tls.client_cert_auth
    }),
    ("peer-crl-file", "/p.crl", |c| {
        c.peer_tls.crl_file == "/p.crl"
    }),
    ("peer-auto-tls", "true", |c| c.peer_tls.auto_tls),
    ("peer-cert-allowed-cn", "m1", |c| {
        c.peer_tls.allowed_cn == "m1"
    }),
    ("peer-cert-allowed-hostname", "h", |c| {
        c.peer_tls.allowed_hostname == "h"
    }),
    (
        "experimental-peer-skip-client-san-verification",
        "true",
        |c| c.peer_tls.skip_client_san_verification,
    ),
];

#[test]
fn tls_flags_set_their_field_from_the_command_line_and_the_environment() {
    for (name, value, check) in TLS_FLAGS {
        let flag = format!("--{name}={value}");
        let p = ok(&[flag.as_str()], &[]);
        assert!(check(&p.config), "{flag} gave {:?}", p.config);
        let key = super::flags::lookup(name).unwrap().env_name();
        let p = ok(&[], &[(key.as_str(), value)]);
        assert!(check(&p.config), "{key}={value} gave {:?}", p.config);
    }
}

#[test]
fn transport_security_sections_set_the_tls_flags() {
    let p = yaml_ok(
        "client-transport-security:\n  cert-file: /c.crt\n  key-file: /c.key\n  client-cert-auth: true\n  trusted-ca-file: /ca.crt\n  auto-tls: true\npeer-transport-security:\n  cert-file: /p.crt\n  key-file: /p.key\n  client-cert-auth: true\n  trusted-ca-file: /pca.crt\n  auto-tls: true\n",
    );
    let c = &p.config;
    assert_eq!(
        (
            c.client_tls.cert_file.as_str(),
            c.client_tls.key_file.as_str()
        ),
        ("/c.crt", "/c.key")
    );
    assert_eq!(c.client_tls.trusted_ca_file, "/ca.crt");
    assert!(c.client_tls.client_cert_auth && c.client_tls.auto_tls);
    assert_eq!(
        (c.peer_tls.cert_file.as_str(), c.peer_tls.key_file.as_str()),
        ("/p.crt", "/p.key")
    );
    assert_eq!(c.peer_tls.trusted_ca_file, "/pca.crt");
    assert!(c.peer_tls.client_cert_auth && c.peer_tls.auto_tls);
    assert!(matches!(
        yaml_fail("client-transport-security:\n  client-cert-auth: 3\n"),
        ConfigError::Invalid(_)
    ));
    yaml_ok(
        "client-transport-security:\n  cert-file: ''\n  client-cert-auth: false\npeer-transport-security:\n",
    );
}

#[test]
fn every_implemented_flag_has_a_case() {
    for spec in FLAGS {
        if spec.support.sets_field() && !matches!(spec.name, "config-file" | "version") {
            assert!(
                IMPLEMENTED.iter().any(|(n, ..)| *n == spec.name)
                    || TLS_FLAGS.iter().any(|(n, ..)| *n == spec.name),
                "--{} has no test case",
                spec.name
            );
        }
    }
}

#[test]
fn implemented_flags_set_their_field_from_the_command_line() {
    for (name, value, _, extra, check) in IMPLEMENTED {
        let flag = format!("--{name}={value}");
        let mut a = vec![flag.as_str()];
        a.extend_from_slice(extra);
        let p = ok(&a, &[]);
        assert!(check(&p.config), "{a:?} gave {:?}", p.config);
        // Go's other spelling: `-name value` (`-name=value` for bool flags, which take
        // no separate value).
        let spec = super::flags::lookup(name).unwrap();
        let dash = format!("-{name}");
        let dash_eq = format!("-{name}={value}");
        let mut a = if spec.value.is_bool() {
            vec![dash_eq.as_str()]
        } else {
            vec![dash.as_str(), value]
        };
        a.extend_from_slice(extra);
        assert!(check(&ok(&a, &[]).config), "{a:?}");
    }
}

#[test]
fn implemented_flags_set_their_field_from_the_environment() {
    for (name, value, _, extra, check) in IMPLEMENTED {
        let spec = super::flags::lookup(name).unwrap();
        let key = spec.env_name();
        let p = ok(extra, &[(key.as_str(), value)]);
        assert!(check(&p.config), "{key}={value} gave {:?}", p.config);
        assert!(
            p.notes.contains(&format!(
                "recognized and used environment variable {key}={value}"
            )),
            "{:?}",
            p.notes
        );
    }
}

#[test]
fn implemented_flags_set_their_field_from_the_config_file() {
    for (name, _, yaml, extra, check) in IMPLEMENTED {
        let mut text = format!("{name}: {yaml}\n");
        for e in *extra {
            // Extra flags are bool flags or URLs: `--k` or `--k=v`.
            let e = e.trim_start_matches('-');
            let (k, v) = e.split_once('=').unwrap_or((e, "true"));
            text.push_str(&format!("{k}: {v}\n"));
        }
        let p = yaml_ok(&text);
        assert!(check(&p.config), "{text} gave {:?}", p.config);
    }
}

#[test]
fn a_name_alone_derives_initial_cluster_and_data_dir_like_etcd() {
    let c = ok(&["--name", "infra0"], &[]).config;
    assert_eq!(c.initial_cluster, "infra0=http://localhost:2380");
    assert_eq!(c.data_dir, PathBuf::from("infra0.etcd"));
    c.verify_bootstrap().unwrap();

    let c = ok(
        &[
            "--name=n",
            "--initial-advertise-peer-urls=http://10.0.0.2:2380,http://10.0.0.1:2380",
        ],
        &[],
    )
    .config;
    assert_eq!(
        c.initial_cluster,
        "n=http://10.0.0.1:2380,n=http://10.0.0.2:2380"
    );
    c.verify_bootstrap().unwrap();

    // An explicit --initial-cluster is kept as given.
    let c = ok(&["--name=n", "--initial-cluster=n=http://x:1"], &[]).config;
    assert_eq!(c.initial_cluster, "n=http://x:1");
}

#[test]
fn a_flag_and_its_variable_together_stop_like_etcd() {
    // etcd 3.4.23: `ETCD_NAME=x etcd --name=y`, and also with ETCD_NAME empty.
    for value in ["x", ""] {
        let err = fail(&["--name=y"], &[("ETCD_NAME", value)]);
        assert_eq!(err, ConfigError::ShadowedEnv("ETCD_NAME".into()));
        assert_eq!(
            err.to_string(),
            r#"conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"#
        );
    }
}

#[test]
fn environment_fills_what_the_command_line_leaves() {
    let p = ok(
        &["--name=a"],
        &[("ETCD_SNAPSHOT_COUNT", "7"), ("PATH", "/bin")],
    );
    assert_eq!((p.config.name.as_str(), p.config.snapshot_count), ("a", 7));
    assert!(p.warnings.is_empty());
}

#[test]
fn unknown_and_empty_etcd_variables_warn_like_etcd() {
    // etcd 3.4.23: "unrecognized environment variable ETCD_FOO=1"; an empty ETCD_NAME is
    // not used, so it is unrecognized too.
    let p = ok(&[], &[("ETCD_FOO", "1"), ("ETCD_NAME", ""), ("HOME", "/")]);
    assert_eq!(
        p.warnings,
        vec![
            "unrecognized environment variable ETCD_FOO=1",
            "unrecognized environment variable ETCD_NAME="
        ]
    );
    assert_eq!(p.config.name, "default");
}

#[test]
fn bad_environment_values_give_etcds_message() {
    // etcd 3.4.23: `ETCD_HEARTBEAT_INTERVAL=abc etcd`.
    let err = fail(&[], &[("ETCD_HEARTBEAT_INTERVAL", "abc")]);
    assert_eq!(
        err.to_string(),
        r#"error verifying flags, invalid value "abc" for ETCD_HEARTBEAT_INTERVAL: parse error. See 'etcd-rs --help'."#
    );
    let err = fail(&[], &[("ETCD_DEBUG", "maybe")]);
    assert_eq!(
        err,
        invalid(r#"invalid value "maybe" for ETCD_DEBUG: parse error"#)
    );
}

#[test]
fn etcds_ignored_flags_warn_from_the_environment_too() {
    // etcd 3.4.23: `ETCD_V=1 etcd -vv`.
    let p = ok(&["-vv"], &[("ETCD_V", "1")]);
    assert_eq!(
        p.warnings,
        vec![
            r#"flag "-vv" is no longer supported - ignoring."#,
            r#"flag "-v" is no longer supported - ignoring."#
        ]
    );
}

#[test]
fn a_config_file_overrides_flags_and_environment() {
    let file = TempFile::new("override", "name: from-file\nsnapshot-count: 5\n");
    let p = ok(
        &["--config-file", file.path(), "--name=from-flag"],
        &[("ETCD_NAME", "from-env"), ("ETCD_MAX_WALS", "1")],
    );
    assert_eq!(p.config.name, "from-file");
    assert_eq!(p.config.snapshot_count, 5);
    assert_eq!(p.config.max_wals, 5);
    assert_eq!(
        p.warnings,
        vec![
            "etcd-rs: a config file is given, so (as etcd does) these command-line flags and environment variables are ignored: --name, ETCD_NAME, ETCD_MAX_WALS"
        ]
    );
    assert!(p.notes[0].starts_with("Loading server configuration from "));

    // ETCD_CONFIG_FILE works the same way; no conflict check applies then.
    let p = ok(&["--name=x"], &[("ETCD_CONFIG_FILE", file.path())]);
    assert_eq!(p.config.name, "from-file");
}

#[test]
fn flags_are_still_checked_when_a_config_file_is_given() {
    // etcd parses the command line before it looks at the config file.
    let file = TempFile::new("checked", "name: a\n");
    assert_eq!(
        fail(&["--config-file", file.path(), "--foo"], &[]),
        ConfigError::Flag("flag provided but not defined: -foo".into())
    );
}

#[test]
fn a_missing_config_file_is_reported_like_go() {
    let err = fail(&["--config-file=/nonexistent/etcd.yaml"], &[]);
    assert_eq!(
        err,
        invalid("open /nonexistent/etcd.yaml: no such file or directory")
    );
}

/// A non-default value for a flag of the given type.
fn non_default(value: ValueType) -> &'static str {
    match value {
        ValueType::Bool => "true",
        ValueType::Uint | ValueType::Uint64 | ValueType::Int | ValueType::Int64 => "12",
        ValueType::Choice(_) => "on",
        _ => "x",
    }
}

#[test]
fn every_security_flag_is_refused_when_set() {
    let mut refused = 0;
    for spec in FLAGS {
        let Support::Refused(r) = spec.support else {
            continue;
        };
        refused += 1;
        let value = non_default(spec.value);
        let flag = format!("--{}={value}", spec.name);
        assert_eq!(
            fail(&[flag.as_str()], &[]),
            ConfigError::Refused {
                setting: format!("--{}", spec.name),
                what: r.what,
                instead: r.instead
            },
            "{flag}"
        );
        let key = spec.env_name();
        assert!(
            matches!(fail(&[], &[(key.as_str(), value)]), ConfigError::Refused { setting, .. } if setting == key),
            "{key}"
        );
        // etcd's default value is fine: nothing is asked for.
        let flag = format!("--{}={}", spec.name, spec.default);
        ok(&[flag.as_str()], &[]);
    }
    assert_eq!(refused, 5);
}

#[test]
fn auth_settings_are_checked_as_etcd_checks_them() {
    for (flag, words) in [
        ("--bcrypt-cost=3", "invalid bcrypt-cost 3"),
        ("--bcrypt-cost=32", "invalid bcrypt-cost 32"),
        (
            "--auth-token=opaque",
            "auth: unknown token type: opaque\nauth: invalid auth options",
        ),
        (
            "--auth-token=jwt,sign-method=RS256",
            "auth: missing key data",
        ),
        (
            "--auth-token=jwt,sign-method=RS256,ttl=forever",
            "time: invalid duration \"forever\"\nauth: invalid auth options",
        ),
        (
            "--auth-token=jwt,sign-method=XX",
            "auth: invalid auth signature method\nauth: invalid auth options",
        ),
        (
            "--auth-token=jwt,sign-method=HS256,priv-key=/nonexistent/key",
            "open /nonexistent/key: ",
        ),
    ] {
        let error = fail(&[flag], &[]).to_string();
        assert!(error.contains(words), "{flag}: {error}");
    }
}

#[test]
fn the_refusal_message_says_why() {
    assert_eq!(
        fail(&["--discovery=https://discovery.example/x"], &[]).to_string(),
        "etcd-rs: --discovery (discovery bootstrap) is not implemented yet; refusing to start rather than bootstrap a different cluster than the one it asks for"
    );
    ok(&["--discovery="], &[]);
}

#[test]
fn https_client_and_peer_urls_are_taken_and_tls_elsewhere_refused() {
    let p = ok(
        &[
            "--listen-client-urls=https://127.0.0.1:2379",
            "--advertise-client-urls=https://127.0.0.1:2379",
            "--listen-peer-urls=https://127.0.0.1:2380",
            "--initial-advertise-peer-urls=https://127.0.0.1:2380",
            "--initial-cluster=default=https://127.0.0.1:2380",
        ],
        &[],
    );
    assert_eq!(p.config.listen_client_urls, ["https://127.0.0.1:2379"]);
    assert_eq!(p.config.listen_peer_urls, ["https://127.0.0.1:2380"]);
    let p = ok(&["--listen-metrics-urls=https://127.0.0.1:2381"], &[]);
    assert_eq!(p.config.listen_metrics_urls, ["https://127.0.0.1:2381"]);
    assert_eq!(
        fail(&["--listen-metrics-urls=unixs://m:1"], &[]).to_string(),
        "etcd-rs: --listen-metrics-urls URL unixs://m:1 (TLS on unix sockets) is not implemented yet; refusing to start rather than run without the security it asks for"
    );
    assert!(matches!(
        yaml_fail("listen-metrics-urls: unixs://m:1\n"),
        ConfigError::Refused { setting, .. } if setting == "config-file key listen-metrics-urls URL unixs://m:1"
    ));
}

#[test]
fn not_implemented_flags_warn_when_set_to_a_non_default_value() {
    let p = ok(&["--enable-v2=true"], &[]);
    assert_eq!(
        p.warnings,
        vec!["etcd-rs: flag --enable-v2 is accepted but not implemented yet; ignoring it"]
    );
    assert!(ok(&["--enable-v2=false"], &[]).warnings.is_empty());
    let p = ok(&[], &[("ETCD_WAL_DIR", "/wal")]);
    assert_eq!(
        p.warnings,
        vec![
            "etcd-rs: flag --wal-dir (from ETCD_WAL_DIR) is accepted but not implemented yet; ignoring it"
        ]
    );
    let p = yaml_ok("backend-batch-limit: 10\n");
    assert_eq!(
        p.warnings,
        vec![
            "etcd-rs: config-file key backend-batch-limit is accepted but not implemented yet; ignoring it"
        ]
    );
    // Every accepted flag is accepted with a non-default value.
    for spec in FLAGS.iter().filter(|s| s.support == Support::Accepted) {
        let flag = match spec.value {
            ValueType::Choice(c) => format!("--{}={}", spec.name, c[c.len() - 1]),
            ValueType::Duration => format!("--{}=1s", spec.name),
            v => format!("--{}={}", spec.name, non_default(v)),
        };
        let p = ok(&[flag.as_str()], &[]);
        assert_eq!(p.warnings.len(), 1, "{flag}: {:?}", p.warnings);
        assert!(p.warnings[0].contains(&format!("--{}", spec.name)));
    }
}

/// etcd 3.4.23's messages for the same command lines.
#[test]
fn bad_command_lines_give_etcds_messages() {
    let cases: &[(&[&str], ConfigError)] = &[
        (
            &["--heartbeat-interval=abc"],
            ConfigError::Flag(
                r#"invalid value "abc" for flag -heartbeat-interval: parse error"#.into(),
            ),
        ),
        (
            &["--foo"],
            ConfigError::Flag("flag provided but not defined: -foo".into()),
        ),
        (
            &["--election-timeout=400"],
            invalid("--election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]"),
        ),
        (
            &["--election-timeout=60000", "--heartbeat-interval=1000"],
            invalid("--election-timeout[60000ms] is too long, and should be set less than 50000ms"),
        ),
        (
            &["--heartbeat-interval=0"],
            invalid("--heartbeat-interval must be >0 (set to 0ms)"),
        ),
        (
            &["--listen-client-urls=http://127.0.0.1"],
            ConfigError::Flag(
                r#"invalid value "http://127.0.0.1" for flag -listen-client-urls: URL address does not have the form "host:port": http://127.0.0.1"#.into(),
            ),
        ),
        (
            &[
                "--listen-client-urls=http://example.com:2379",
                "--advertise-client-urls=http://example.com:2379",
            ],
            invalid("expected IP in URL for binding (http://example.com:2379)"),
        ),
        (
            &["--listen-client-urls=http://127.0.0.1:2379"],
            ConfigError::UnsetAdvertiseClientUrls,
        ),
        (
            &["--listen-client-urls="],
            ConfigError::UnsetAdvertiseClientUrls,
        ),
        (
            &["--advertise-client-urls=http://:2379"],
            invalid(r#"--advertise-client-urls "http://:2379" must be "host:port" (unexpected empty host (http://:2379))"#),
        ),
        (
            &["--auto-compaction-mode=foo"],
            invalid(r#"unknown auto-compaction-mode "foo""#),
        ),
        (
            &["--experimental-enable-lease-checkpoint-persist"],
            invalid("setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint"),
        ),
        (&["--debug", "false"], invalid("'false' is not a valid flag")),
        (&["--", "foo"], invalid("'foo' is not a valid flag")),
        (
            &["--logger=foo"],
            invalid(r#"unknown logger option "foo""#),
        ),
        (
            &["--logger=zap", "--log-outputs=default,stderr"],
            invalid(r#"multi logoutput for "default" is not supported yet"#),
        ),
        (
            &["--log-outputs=stderr,stdout"],
            invalid(r#"--logger=capnslog supports only 1 value in '--log-outputs', got ["stderr" "stdout"]"#),
        ),
        (
            &["--config-file=/"],
            invalid("read /: is a directory"),
        ),
        (
            &["--auto-compaction-retention=abc"],
            ConfigError::Fatal(r#"error parsing CompactionRetention: time: invalid duration "abc""#.into()),
        ),
        // etcd panics here (`unknown level "foo"`); etcd-rs refuses in the same words.
        (
            &["--log-level=foo"],
            invalid(r#"unknown level "foo" (--log-level supports debug, info, warn, error, dpanic, panic, fatal)"#),
        ),
    ];
    for (a, want) in cases {
        assert_eq!(&fail(a, &[]), want, "{a:?}");
    }
}

#[test]
fn the_unset_advertise_error_prints_both_of_etcds_lines() {
    assert_eq!(
        ConfigError::UnsetAdvertiseClientUrls.to_string(),
        "error verifying flags, --advertise-client-urls is required when --listen-client-urls is set explicitly. See 'etcd-rs --help'.\nWhen listening on specific address(es), this etcd process must advertise accessible url(s) to each connected client."
    );
    // The environment counts as setting the flag, as in etcd.
    assert_eq!(
        fail(&[], &[("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379")]),
        ConfigError::UnsetAdvertiseClientUrls
    );
}

#[test]
fn a_malformed_initial_cluster_is_reported_when_bootstrapping() {
    // etcd checks --initial-cluster only when it bootstraps a new data directory.
    let c = ok(&["--initial-cluster=foo"], &[]).config;
    let want = ConfigError::Fatal(
        "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: ".into(),
    );
    assert_eq!(c.verify_bootstrap(), Err(want.clone()));
    assert_eq!(c.member_id(), Err(want));
    let c = ok(&["--initial-cluster=default=localhost:2380"], &[]).config;
    assert_eq!(
        c.verify_bootstrap().unwrap_err().to_string(),
        "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: localhost:2380"
    );
}

/// etcd 3.4.23 given the same config files.
#[test]
fn bad_config_files_give_etcds_messages() {
    let cases = [
        (
            "heartbeat-interval: abc\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field configYAML.heartbeat-interval of type uint"),
        ),
        (
            "heartbeat-interval: 1.5\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number 1.5 into Go struct field configYAML.heartbeat-interval of type uint"),
        ),
        (
            "heartbeat-interval: -5\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number -5 into Go struct field configYAML.heartbeat-interval of type uint"),
        ),
        (
            "heartbeat-interval: true\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal bool into Go struct field configYAML.heartbeat-interval of type uint"),
        ),
        (
            "experimental-watch-progress-notify-interval: 10m\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field configYAML.experimental-watch-progress-notify-interval of type time.Duration"),
        ),
        (
            "name: 123\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number into Go struct field configYAML.name of type string"),
        ),
        (
            "listen-client-urls: [http://127.0.0.1:2379]\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go struct field configYAML.listen-client-urls of type string"),
        ),
        (
            "initial-cluster-state: bogus\n",
            invalid(r#"unexpected clusterState "bogus""#),
        ),
        (
            "heartbeat-interval: 100\nelection-timeout: 300\n",
            invalid("--election-timeout[300ms] should be at least as 5 times as --heartbeat-interval[100ms]"),
        ),
        (
            "listen-client-urls: 127.0.0.1:2379\n",
            ConfigError::Fatal(r#"unexpected error setting up listen-client-urls: parse "127.0.0.1:2379": first path segment in URL cannot contain colon"#.into()),
        ),
        (
            "client-transport-security: foo\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field configYAML.client-transport-security of type embed.securityConfig"),
        ),
        (
            "client-transport-security:\n  cert-file: 5\n",
            invalid("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number into Go struct field securityConfig.client-transport-security.cert-file of type string"),
        ),
        (
            "proxy: bogus\n",
            ConfigError::Fatal("unexpected error setting up proxyFlag: invalid value".into()),
        ),
        (
            "discovery-fallback: bad\n",
            ConfigError::Fatal("unexpected error setting up discovery-fallback flag: invalid value".into()),
        ),
        (
            "advertise-client-urls: http://:2379\n",
            invalid(r#"--advertise-client-urls "http://:2379" must be "host:port" (unexpected empty host (http://:2379))"#),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(yaml_fail(text), want, "{text}");
    }
    assert!(
        yaml_fail("name: [a, b\n")
            .to_string()
            .starts_with("error verifying flags, error converting YAML to JSON: yaml: ")
    );
}

/// etcd 3.4.23 accepts these config files.
#[test]
fn config_files_read_as_etcd_reads_them() {
    // Unknown keys are ignored (we also warn); keys match case-insensitively.
    let p = yaml_ok("unknown-key: 5\nName: shadow\n");
    assert_eq!(p.config.name, "shadow");
    assert_eq!(
        p.warnings,
        vec![r#"etcd-rs: unknown config-file key "unknown-key"; ignoring it, as etcd does"#]
    );
    // null leaves the default; YAML 1.1 numbers and booleans work.
    let p = yaml_ok(
        "name:\nheartbeat-interval: 0x10\nelection-timeout: 1e3\nstrict-reconfig-check: no\n",
    );
    assert_eq!(p.config.name, "default");
    assert_eq!(p.config.heartbeat_interval_ms, 16);
    assert_eq!(p.config.election_timeout_ms, 1000);
    assert!(!p.config.strict_reconfig_check);
    // Listening without advertising is fine in a config file: the default stays.
    let p = yaml_ok("listen-client-urls: http://127.0.0.1:2379\n");
    assert_eq!(
        p.config.advertise_client_urls,
        vec!["http://localhost:2379"]
    );
    // An empty file is all defaults.
    assert_eq!(yaml_ok("").config, MemberConfig::default());
    // The name derives the initial cluster here too.
    assert_eq!(
        yaml_ok("name: foo\n").config.initial_cluster,
        "foo=http://localhost:2380"
    );
}

fn example(path: &str) -> Parsed {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&full).expect("example config file");
    match parse_config_file(&text) {
        Ok(p) => {
            assert!(p.warnings.is_empty(), "{path}: {:?}", p.warnings);
            p
        }
        Err(e) => panic!("{path}: {e}"),
    }
}

#[test]
fn the_dev_example_is_what_dev_mode_runs() {
    let p = example("config/dev.yaml");
    let dev = DevOptions::default().member_configs();
    assert_eq!(p.config, dev[0]);
    // Read from etcd 3.4.23 started with config/dev.yaml ("starting member aa5da4eb7a265a3c
    // in cluster 96aebce209f939e").
    assert_eq!(p.config.member_id(), Ok(NodeId(0xaa5d_a4eb_7a26_5a3c)));
    assert_eq!(p.config.cluster_id(), Ok(ClusterId(0x096a_ebce_209f_939e)));
}

#[test]
fn the_single_member_example_is_valid() {
    let c = example("config/single.yaml").config;
    c.verify_bootstrap().unwrap();
    assert_eq!(c.name, "single");
    // etcd 3.4.23 started with config/single.yaml: the member ID depends only on the peer
    // URLs and the token, so it is etcd's default member's.
    assert_eq!(c.member_id(), Ok(NodeId(0x8e9e_05c5_2164_694d)));
    assert_eq!(
        c.auto_compaction(),
        Ok(AutoCompaction::Periodic(Duration::from_secs(3600)))
    );
}

#[test]
fn the_three_member_examples_form_one_cluster() {
    // Read from etcd 3.4.23 running the three files: `etcdctl member list -w json`.
    let want = [
        ("m1", 0xcf48_376f_7d77_b72e_u64, 12379),
        ("m2", 0xf6cb_a09f_3a3e_9cab, 22379),
        ("m3", 0xe9be_e1c3_3c5b_43da, 32379),
    ];
    for (name, id, port) in want {
        let c = example(&format!("config/cluster-3/{name}.yaml")).config;
        c.verify_bootstrap().unwrap();
        assert_eq!(c.name, name);
        assert_eq!(
            c.listen_client_urls,
            vec![format!("http://127.0.0.1:{port}")]
        );
        assert_eq!(c.member_id(), Ok(NodeId(id)));
        assert_eq!(c.cluster_id(), Ok(ClusterId(15_960_704_571_219_602_293)));
    }
}

/// Flags etcd-rs reads and checks as etcd does but that change nothing here: set to a
/// non-default value they warn, their bad values are still refused with etcd's message.
#[test]
fn flags_without_effect_warn_when_set() {
    let p = ok(&["--unsafe-no-fsync=true"], &[]);
    assert!(p.config.unsafe_no_fsync);
    assert_eq!(
        p.warnings,
        vec!["etcd-rs: flag --unsafe-no-fsync has no effect in etcd-rs; ignoring it"]
    );
    let p = ok(&[], &[("ETCD_LOG_LEVEL", "debug")]);
    assert_eq!(
        p.warnings,
        vec![
            "etcd-rs: flag --log-level (from ETCD_LOG_LEVEL) has no effect in etcd-rs; ignoring it"
        ]
    );
    let p = yaml_ok("max-wals: 9\n");
    assert_eq!(
        p.warnings,
        vec!["etcd-rs: config-file key max-wals has no effect in etcd-rs; ignoring it"]
    );
    // At etcd's default, nothing is said.
    assert!(ok(&["--logger=capnslog"], &[]).warnings.is_empty());
    assert!(parse(&args(&["--logger=foo"]), &env(&[])).is_err());
}
