//! The initial cluster: etcd's bootstrap checks of `--initial-cluster` against the member
//! (`etcdserver.ServerConfig.VerifyBootstrap` / `VerifyJoinExisting`) and the member and
//! cluster IDs etcd derives from it (`membership.NewMember`, `RaftCluster.genID`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::MemberConfig;
use super::error::ConfigError;
use super::goparse::{quote, quote_list};
use super::settings::initial_cluster_map;
use super::sha1::sha1;
use super::url::urls_map_string;
use crate::raft::NodeId;

/// A cluster's ID, as etcd derives it from its first members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub u64);

impl fmt::Display for ClusterId {
    /// Lower-case hex, as etcd prints IDs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// One member of `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMember {
    /// Its name.
    pub name: String,
    /// Its peer URLs, sorted.
    pub peer_urls: Vec<String>,
    /// Its ID: SHA-1 of its sorted peer URLs and the cluster token.
    pub id: NodeId,
}

/// etcd's member ID: the first 8 bytes (big-endian) of SHA-1 over the sorted peer URLs
/// concatenated, then the cluster token (`membership.NewMember` with no time).
pub fn member_id(peer_urls: &[String], token: &str) -> NodeId {
    let mut sorted: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut bytes = sorted.concat().into_bytes();
    bytes.extend_from_slice(token.as_bytes());
    NodeId(first_u64(&sha1(&bytes)))
}

/// etcd's cluster ID: the first 8 bytes of SHA-1 over the members' IDs, sorted, each as
/// 8 big-endian bytes (`RaftCluster.genID`).
pub fn cluster_id(member_ids: &[NodeId]) -> ClusterId {
    let mut ids: Vec<u64> = member_ids.iter().map(|id| id.0).collect();
    ids.sort_unstable();
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    ClusterId(first_u64(&sha1(&bytes)))
}

fn first_u64(digest: &[u8; 20]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b)
}

impl MemberConfig {
    /// The members of `--initial-cluster`, by name, with their IDs
    /// (`NewClusterFromURLsMap`). Errors are etcd's: a malformed list, two members with
    /// one ID.
    pub fn initial_members(&self) -> Result<Vec<InitialMember>, ConfigError> {
        let map = initial_cluster_map(&self.initial_cluster)?;
        let mut members: Vec<InitialMember> = Vec::with_capacity(map.len());
        for (name, peer_urls) in map {
            let id = member_id(&peer_urls, &self.initial_cluster_token);
            if members.iter().any(|m| m.id == id) {
                return Err(ConfigError::Fatal(format!(
                    "member exists with identical ID {:x}",
                    id.0
                )));
            }
            if id.is_none() {
                return Err(ConfigError::Fatal("cannot use 0 as member id".to_string()));
            }
            members.push(InitialMember {
                name,
                peer_urls,
                id,
            });
        }
        Ok(members)
    }

    /// This member's ID when it bootstraps from `--initial-cluster`: the ID of the entry
    /// with its name.
    pub fn member_id(&self) -> Result<NodeId, ConfigError> {
        let members = self.initial_members()?;
        members
            .iter()
            .find(|m| m.name == self.name)
            .map(|m| m.id)
            .ok_or_else(|| missing_local_name(&self.name))
    }

    /// The ID of the cluster `--initial-cluster` bootstraps.
    pub fn cluster_id(&self) -> Result<ClusterId, ConfigError> {
        let ids: Vec<NodeId> = self.initial_members()?.iter().map(|m| m.id).collect();
        Ok(cluster_id(&ids))
    }

    /// etcd's checks before bootstrapping a new cluster (`VerifyBootstrap`): the member is
    /// in `--initial-cluster`, with exactly its `--initial-advertise-peer-urls`, and no
    /// URL appears twice. Call it when the data directory is new, as etcd does.
    ///
    /// Unlike etcd, URLs are compared as written, without resolving host names.
    pub fn verify_bootstrap(&self) -> Result<(), ConfigError> {
        let map = initial_cluster_map(&self.initial_cluster)?;
        let Some(urls) = map.get(&self.name) else {
            return Err(missing_local_name(&self.name));
        };
        self.advertise_matches_cluster(urls)?;
        check_duplicate_urls(&map)?;
        if map.is_empty() {
            return Err(ConfigError::Fatal(
                "initial cluster unset and no discovery URL found".to_string(),
            ));
        }
        Ok(())
    }

    /// etcd's checks before joining an existing cluster (`VerifyJoinExisting`).
    pub fn verify_join_existing(&self) -> Result<(), ConfigError> {
        let map = initial_cluster_map(&self.initial_cluster)?;
        if !map.contains_key(&self.name) {
            return Err(missing_local_name(&self.name));
        }
        check_duplicate_urls(&map)
    }

    /// etcd's `advertiseMatchesCluster`, with its three messages.
    fn advertise_matches_cluster(&self, cluster_urls: &[String]) -> Result<(), ConfigError> {
        let mut ap = self.initial_advertise_peer_urls.clone();
        ap.sort();
        let mut ic = cluster_urls.to_vec();
        ic.sort();
        if ap == ic {
            return Ok(());
        }
        // The detail etcd's URL comparison gives.
        let detail = if ap.len() != ic.len() {
            format!("len({}) != len({})", quote_list(&ap), quote_list(&ic))
        } else {
            let (a, b) = ap
                .iter()
                .zip(&ic)
                .find(|(a, b)| a != b)
                .unwrap_or((&ap[0], &ic[0]));
            format!("resolved urls: {} != {}", quote(a), quote(b))
        };
        let ap_set: BTreeSet<&String> = ap.iter().collect();
        let ic_set: BTreeSet<&String> = ic.iter().collect();
        let missing: Vec<String> = ic_set
            .iter()
            .filter(|u| !ap_set.contains(*u))
            .map(|u| format!("{}={u}", self.name))
            .collect();
        if !missing.is_empty() {
            return Err(ConfigError::Fatal(format!(
                "--initial-cluster has {} but missing from --initial-advertise-peer-urls={} ({detail})",
                missing.join(","),
                ap.join(",")
            )));
        }
        let mut own = BTreeMap::new();
        own.insert(self.name.clone(), ap.clone());
        let missing: Vec<&str> = ap_set
            .iter()
            .filter(|u| !ic_set.contains(*u))
            .map(|u| u.as_str())
            .collect();
        Err(ConfigError::Fatal(format!(
            "--initial-advertise-peer-urls has {} but missing from --initial-cluster={}",
            missing.join(","),
            urls_map_string(&own)
        )))
    }
}

fn missing_local_name(name: &str) -> ConfigError {
    ConfigError::Fatal(format!(
        "couldn't find local name {} in the initial cluster configuration",
        quote(name)
    ))
}

/// etcd's `checkDuplicateURL`.
fn check_duplicate_urls(map: &BTreeMap<String, Vec<String>>) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for url in map.values().flatten() {
        if !seen.insert(url) {
            return Err(ConfigError::Fatal(format!(
                "initial cluster {} has duplicate url",
                urls_map_string(map)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read from etcd 3.4.23 started with only `--data-dir`: `etcdctl member list -w json`
    /// and `endpoint status -w json` gave member_id 10276657743932975437
    /// (8e9e05c52164694d) and cluster_id 14841639068965178418 (cdf818194e3a8c32).
    #[test]
    fn default_member_and_cluster_ids_equal_etcds() {
        let cfg = MemberConfig::default();
        assert_eq!(cfg.member_id(), Ok(NodeId(10_276_657_743_932_975_437)));
        assert_eq!(cfg.cluster_id(), Ok(ClusterId(14_841_639_068_965_178_418)));
        assert_eq!(
            ClusterId(14_841_639_068_965_178_418).to_string(),
            "cdf818194e3a8c32"
        );
    }

    #[test]
    fn member_id_ignores_peer_url_order() {
        let a = member_id(&["http://b:1".into(), "http://a:1".into()], "t");
        let b = member_id(&["http://a:1".into(), "http://b:1".into()], "t");
        assert_eq!(a, b);
        assert_ne!(
            a,
            member_id(&["http://a:1".into(), "http://b:1".into()], "u")
        );
    }

    fn cfg(name: &str, ap: &str, ic: &str) -> MemberConfig {
        MemberConfig {
            name: name.into(),
            initial_advertise_peer_urls: ap.split(',').map(String::from).collect(),
            initial_cluster: ic.into(),
            ..MemberConfig::default()
        }
    }

    /// Messages checked against etcd 3.4.23.
    #[test]
    fn bootstrap_checks_give_etcds_messages() {
        let fatal = |s: &str| Err(ConfigError::Fatal(s.to_string()));
        assert_eq!(
            cfg(
                "default",
                "http://localhost:2380",
                "other=http://localhost:2380"
            )
            .verify_bootstrap(),
            fatal(r#"couldn't find local name "default" in the initial cluster configuration"#)
        );
        assert_eq!(
            cfg("default", "http://localhost:2380", "").verify_bootstrap(),
            fatal(r#"couldn't find local name "default" in the initial cluster configuration"#)
        );
        assert_eq!(
            cfg("default", "http://127.0.0.1:2380", DEFAULT).verify_bootstrap(),
            fatal(
                r#"--initial-cluster has default=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:2380 (resolved urls: "http://127.0.0.1:2380" != "http://localhost:2380")"#
            )
        );
        assert_eq!(
            cfg(
                "default",
                "http://127.0.0.1:2380",
                "default=http://127.0.0.1:2380,default=http://127.0.0.9:2380"
            )
            .verify_bootstrap(),
            fatal(
                r#"--initial-cluster has default=http://127.0.0.9:2380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:2380 (len(["http://127.0.0.1:2380"]) != len(["http://127.0.0.1:2380" "http://127.0.0.9:2380"]))"#
            )
        );
        assert_eq!(
            cfg(
                "default",
                "http://localhost:2380",
                "default=http://localhost:2380,other=http://localhost:2380"
            )
            .verify_bootstrap(),
            fatal(
                "initial cluster default=http://localhost:2380,other=http://localhost:2380 has duplicate url"
            )
        );
        assert_eq!(
            cfg("default", "http://localhost:2380", "foo").verify_bootstrap(),
            fatal(
                "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: "
            )
        );
        assert_eq!(
            cfg("default", "http://localhost:2380", DEFAULT).verify_bootstrap(),
            Ok(())
        );
    }

    #[test]
    fn extra_advertised_url_is_named() {
        assert_eq!(
            cfg("a", "http://h:1,http://h:2", "a=http://h:1").verify_bootstrap(),
            Err(ConfigError::Fatal(
                r#"--initial-advertise-peer-urls has http://h:2 but missing from --initial-cluster=a=http://h:1,a=http://h:2"#
                    .to_string()
            ))
        );
    }

    #[test]
    fn joining_needs_only_the_name_and_no_duplicates() {
        let c = cfg("a", "http://h:9", "a=http://h:1,b=http://h:2");
        assert_eq!(c.verify_join_existing(), Ok(()));
    }

    const DEFAULT: &str = super::super::DEFAULT_INITIAL_CLUSTER;
}
