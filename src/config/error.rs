//! The ways a member configuration can be refused, each displayed as the text the user
//! sees. Where etcd 3.4 has a message for the same mistake, the text is etcd's.

/// Why [`parse`](super::parse) produced no configuration.
///
/// `Display` is the whole message to show the user. [`ConfigError::exit_code`] is the exit
/// status etcd uses for the same outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `-h` or `--help`: not a failure. The caller prints the usage and exits 0.
    #[error("help requested")]
    HelpRequested,

    /// `--version`: not a failure. The caller prints the version and exits 0.
    #[error("version requested")]
    VersionRequested,

    /// A command line Go's `flag` package refuses: an unknown flag ("flag provided but not
    /// defined: -foo"), bad syntax, a missing or malformed value. etcd prints this, then its
    /// usage, and exits 2.
    #[error("{0}")]
    Flag(String),

    /// A configuration etcd's flag verification refuses (election timeout too short, a
    /// listen URL with a host name, a malformed config file, ...).
    #[error("error verifying flags, {0}. See 'etcd-rs --help'.")]
    Invalid(String),

    /// `--listen-client-urls` given without `--advertise-client-urls`: etcd's two lines.
    #[error(
        "error verifying flags, --advertise-client-urls is required when --listen-client-urls is set explicitly. See 'etcd-rs --help'.\n\
         When listening on specific address(es), this etcd process must advertise accessible url(s) to each connected client."
    )]
    UnsetAdvertiseClientUrls,

    /// An `ETCD_*` variable names a flag also given on the command line; etcd stops.
    #[error(
        "conflicting environment variable {0:?} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
    )]
    ShadowedEnv(String),

    /// A failure etcd reports as fatal once flags are verified: a malformed
    /// `--initial-cluster`, a member missing from it, a bad config-file URL.
    #[error("{0}")]
    Fatal(String),

    /// A setting etcd-rs does not implement and must not silently ignore: authentication,
    /// TLS on metrics URLs and unix sockets, discovery, proxy mode.
    #[error(
        "etcd-rs: {setting} ({what}) is not implemented yet; refusing to start rather than {instead}"
    )]
    Refused {
        /// The setting as the user wrote it: `--auth-token`, `ETCD_AUTH_TOKEN`,
        /// `config-file key listen-metrics-urls URL https://...`.
        setting: String,
        /// What it asks for ("authentication").
        what: &'static str,
        /// What starting anyway would do.
        instead: &'static str,
    },
}

impl ConfigError {
    /// The exit status etcd uses for this outcome: 0 for help and version, 2 for command
    /// lines the flag package refuses, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::HelpRequested | ConfigError::VersionRequested => 0,
            ConfigError::Flag(_) => 2,
            _ => 1,
        }
    }
}
