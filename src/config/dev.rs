//! `etcd-rs dev`: a whole cluster in one process for development, and the configuration
//! of each of its members.
//!
//! Member `i` (1-based) is named `dev-i`, serves clients on the `i`-th of
//! [`DEV_CLIENT_PORTS`] and peers on that port + 1, keeps its data in
//! `<data-dir>/dev-i`, and all members bootstrap one cluster with the token
//! [`DEV_CLUSTER_TOKEN`]. `config/dev.yaml` is the first member's configuration written as
//! an etcd config file.

use std::path::PathBuf;

use super::error::ConfigError;
use super::goparse::{parse_bool, parse_uint, quote};
use super::settings::initial_cluster_from_name;
use super::{ClusterState, MemberConfig};

/// The most members dev mode runs.
pub const DEV_MEMBERS_MAX: usize = 7;
/// The members dev mode runs by default.
pub const DEV_MEMBERS_DEFAULT: usize = 3;
/// The cluster token of dev clusters.
pub const DEV_CLUSTER_TOKEN: &str = "etcd-rs-dev";
/// Client ports of members 1, 2, ...; each member's peer port is its client port + 1.
/// The first is etcd's own, so `etcdctl` without `--endpoints` reaches member 1; the
/// seventh wraps to 12379 because 72379 is not a port.
pub const DEV_CLIENT_PORTS: [u16; DEV_MEMBERS_MAX] =
    [2379, 22379, 32379, 42379, 52379, 62379, 12379];

/// Options of `etcd-rs dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevOptions {
    /// `--members`: how many members (1 to [`DEV_MEMBERS_MAX`]).
    pub members: usize,
    /// `--ephemeral`: keep data in memory only.
    pub ephemeral: bool,
    /// `--data-dir`: where members keep their data (one folder each).
    pub data_dir: PathBuf,
    /// `--snapshot-count`: as etcd's flag, for every member.
    pub snapshot_count: u64,
}

impl Default for DevOptions {
    fn default() -> Self {
        DevOptions {
            members: DEV_MEMBERS_DEFAULT,
            ephemeral: false,
            data_dir: PathBuf::from("./data/dev"),
            snapshot_count: MemberConfig::default().snapshot_count,
        }
    }
}

impl DevOptions {
    /// Parses the arguments after `dev`, with Go's flag syntax like the member flags
    /// (`--members 5`, `--members=5`, `--ephemeral`, `--data-dir=/tmp/d`).
    pub fn parse(args: &[String]) -> Result<DevOptions, ConfigError> {
        let mut opts = DevOptions::default();
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_str();
            i += 1;
            let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'));
            let Some(body) = body.filter(|b| !b.is_empty()) else {
                return Err(ConfigError::Invalid(format!("'{arg}' is not a valid flag")));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let mut value = |name: &str| -> Result<String, ConfigError> {
                if let Some(v) = inline {
                    return Ok(v.to_string());
                }
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| ConfigError::Flag(format!("flag needs an argument: -{name}")))?;
                i += 1;
                Ok(v)
            };
            match name {
                "members" => {
                    let raw = value(name)?;
                    let n = parse_uint(&raw, 64).map_err(|e| {
                        ConfigError::Flag(format!(
                            "invalid value {} for flag -members: {}",
                            quote(&raw),
                            e.flag_text()
                        ))
                    })?;
                    opts.members = usize::try_from(n).unwrap_or(usize::MAX);
                }
                "ephemeral" => {
                    let raw = inline.unwrap_or("true");
                    opts.ephemeral = parse_bool(raw).map_err(|e| {
                        ConfigError::Flag(format!(
                            "invalid boolean value {} for -ephemeral: {}",
                            quote(raw),
                            e.flag_text()
                        ))
                    })?;
                }
                "data-dir" => opts.data_dir = PathBuf::from(value(name)?),
                "snapshot-count" => {
                    let raw = value(name)?;
                    opts.snapshot_count = parse_uint(&raw, 64).map_err(|e| {
                        ConfigError::Flag(format!(
                            "invalid value {} for flag -snapshot-count: {}",
                            quote(&raw),
                            e.flag_text()
                        ))
                    })?;
                }
                "h" | "help" => return Err(ConfigError::HelpRequested),
                other => {
                    return Err(ConfigError::Flag(format!(
                        "flag provided but not defined: -{other}"
                    )));
                }
            }
        }
        if !(1..=DEV_MEMBERS_MAX).contains(&opts.members) {
            return Err(ConfigError::Invalid(format!(
                "--members must be between 1 and {DEV_MEMBERS_MAX} (got {})",
                opts.members
            )));
        }
        Ok(opts)
    }

    /// The configuration of each member, in order (`dev-1` first).
    pub fn member_configs(&self) -> Vec<MemberConfig> {
        let names: Vec<String> = (1..=self.members).map(|i| format!("dev-{i}")).collect();
        let initial_cluster = names
            .iter()
            .zip(DEV_CLIENT_PORTS)
            .map(|(name, port)| initial_cluster_from_name(name, &[peer_url(port)]))
            .collect::<Vec<_>>()
            .join(",");
        names
            .iter()
            .zip(DEV_CLIENT_PORTS)
            .map(|(name, port)| MemberConfig {
                name: name.clone(),
                data_dir: self.data_dir.join(name),
                listen_client_urls: vec![client_url(port)],
                advertise_client_urls: vec![client_url(port)],
                listen_peer_urls: vec![peer_url(port)],
                initial_advertise_peer_urls: vec![peer_url(port)],
                initial_cluster: initial_cluster.clone(),
                initial_cluster_state: ClusterState::New,
                initial_cluster_token: DEV_CLUSTER_TOKEN.to_string(),
                snapshot_count: self.snapshot_count,
                ..MemberConfig::default()
            })
            .collect()
    }
}

fn client_url(client_port: u16) -> String {
    format!("http://127.0.0.1:{client_port}")
}

fn peer_url(client_port: u16) -> String {
    format!("http://127.0.0.1:{}", client_port + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_are_three_members_under_data_dev() {
        let o = DevOptions::parse(&[]).unwrap();
        assert_eq!(o, DevOptions::default());
        let m = o.member_configs();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name, "dev-1");
        assert_eq!(m[1].listen_client_urls, vec!["http://127.0.0.1:22379"]);
        assert_eq!(
            m[2].initial_advertise_peer_urls,
            vec!["http://127.0.0.1:32380"]
        );
        assert_eq!(m[2].data_dir, PathBuf::from("./data/dev/dev-3"));
        assert_eq!(
            m[0].initial_cluster,
            "dev-1=http://127.0.0.1:2380,dev-2=http://127.0.0.1:22380,dev-3=http://127.0.0.1:32380"
        );
    }

    #[test]
    fn options_parse_in_every_go_spelling() {
        let o = DevOptions::parse(&args(&[
            "--members",
            "5",
            "--ephemeral",
            "-data-dir=/tmp/d",
        ]))
        .unwrap();
        assert_eq!(o.members, 5);
        assert!(o.ephemeral);
        assert_eq!(o.data_dir, PathBuf::from("/tmp/d"));
        let o = DevOptions::parse(&args(&["-members=1", "--ephemeral=false"])).unwrap();
        assert_eq!((o.members, o.ephemeral), (1, false));
    }

    #[test]
    fn member_counts_outside_one_to_seven_are_refused() {
        for n in ["0", "8"] {
            let err = DevOptions::parse(&args(&["--members", n])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "error verifying flags, --members must be between 1 and 7 (got {n}). See 'etcd-rs --help'."
                )
            );
        }
        assert_eq!(
            DevOptions::parse(&args(&["--members=x"])).unwrap_err(),
            ConfigError::Flag(r#"invalid value "x" for flag -members: parse error"#.into())
        );
        assert_eq!(
            DevOptions::parse(&args(&["--nodes=3"])).unwrap_err(),
            ConfigError::Flag("flag provided but not defined: -nodes".into())
        );
    }

    #[test]
    fn every_member_count_gives_distinct_valid_ids_and_ports() {
        for n in 1..=DEV_MEMBERS_MAX {
            let o = DevOptions {
                members: n,
                ..DevOptions::default()
            };
            let configs = o.member_configs();
            let mut ids: Vec<_> = configs.iter().map(|c| c.member_id().unwrap()).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), n);
            for c in &configs {
                c.verify_bootstrap().unwrap();
            }
            let cluster = configs[0].cluster_id().unwrap();
            assert!(configs.iter().all(|c| c.cluster_id().unwrap() == cluster));
        }
    }
}
