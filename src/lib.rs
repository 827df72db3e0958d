//! etcd-rs: a drop-in replacement for etcd, written in Rust.
//!
//! # Layout
//! - [`auth`]: users, roles, permissions and tokens, as etcd's auth store.
//! - [`bench`]: `etcd-rs bench`, the load generator with etcd's `benchmark` subcommands
//!   and flags.
//! - [`config`]: the member configuration, read from etcd's flags, `ETCD_*` environment
//!   variables and YAML config file exactly as etcd 3.4 reads them; `etcd-rs dev` options.
//! - [`raft`]: the pure Raft consensus core (no I/O, no clock, seeded randomness).
//! - [`lease`]: the Lessor's pure logic (etcd's `lease` package): grants, revokes, key
//!   attachments, keep-alives, expiry and checkpoints, with time passed in.
//! - [`mvcc`]: the MVCC key-value state machine with etcd's KV semantics, over a storage trait.
//! - [`linearizability`]: a porcupine-style checker of client histories against a
//!   sequential key-value model, used by the simulation and the fault tests.
//! - [`snapshot`]: the store as etcd's backend file (a bbolt database in etcd's schema),
//!   streamed by `Maintenance.Snapshot`, and etcd's `Maintenance.Hash` over it.
//! - [`sim`]: a deterministic simulation of a whole cluster on a faulty network, driven by
//!   one seed, that checks Raft's safety properties and the clients' history.
//! - [`storage`]: a member's durable storage on fjall: the raft log (checksummed, fsynced
//!   before acknowledgements) and the MVCC backend.
//! - [`transport`]: the peer transport over the network (TCP on --listen-peer-urls,
//!   TLS on `https://` ones), behind the same trait as dev mode's in-process one.
//! - [`tls`]: TLS of the client and peer URLs (rustls): certificates, client certificate
//!   checks, CRLs, cipher suites, auto TLS.
//! - [`server`]: the actors of one member (RaftNode, RaftLog, Applier, WatchHub) and the
//!   handle the API layer holds.
//! - [`api`]: the client port: etcd's gRPC services (tonic), and HTTP (actix-web):
//!   `/health`, `/version`, `/metrics` and the JSON gateway.
//! - [`pb`]: the protobuf messages and services generated from `proto/`.
//! - [`metrics`]: Prometheus metrics under etcd's names.
//! - [`process`]: running members in this process (dev mode or one member), and the
//!   shutdown path.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod bench;
pub mod config;
pub mod lease;
pub mod linearizability;
pub mod metrics;
pub mod mvcc;
pub mod pb;
pub mod process;
pub mod raft;
pub mod server;
pub mod sim;
pub mod snapshot;
pub mod storage;
pub mod tls;
pub mod transport;
