//! Writes the seed inputs of the fuzz targets into `corpus/<target>/seed-*`, made with
//! the crate's own encoders, so that each target starts from valid inputs. Run from
//! `fuzz/`: `cargo run --example write_seeds` (scripts/fuzz.sh does it when a corpus is
//! missing). The files are committed; rerunning rewrites the same bytes.

use std::fs;
use std::path::Path;

use etcd_rs::lease::{Lease, encode_lease, meta_key};
use etcd_rs::pb::etcdserverpb as pb;
use etcd_rs::raft::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState, Entry,
    EntryType, HardState, LogIndex, Message, MessageType, NodeId, Snapshot, SnapshotMetadata, Term,
};
use etcd_rs::server::membership::{ChangeKind, ClusterInfo, ConfContext, Member, Membership};
use etcd_rs::server::state_snapshot;
use etcd_rs::storage::{codec, crc32c};
use etcd_rs::transport::codec::{
    Hello, encode_hello, encode_members, encode_members_query, encode_message, encode_ping,
    encode_pong, encode_refuse, encode_welcome, message_body,
};
use prost::Message as _;

fn write(target: &str, seeds: &[Vec<u8>]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    for (i, seed) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:02}")), seed).expect("seed file");
    }
    println!("{target}: {} seeds", seeds.len());
}

fn member(id: u64) -> Member {
    Member {
        id,
        peer_urls: vec![format!("http://10.0.0.{id}:2380")],
        name: format!("m{id}"),
        is_learner: false,
    }
}

fn put(key: &[u8], value: &[u8]) -> pb::PutRequest {
    pb::PutRequest {
        key: key.to_vec(),
        value: value.to_vec(),
        ..Default::default()
    }
}

fn txn() -> pb::TxnRequest {
    use pb::request_op::Request;
    let op = |r: Request| pb::RequestOp { request: Some(r) };
    let nested = pb::TxnRequest {
        compare: vec![],
        success: vec![op(Request::RequestPut(put(b"n", b"1")))],
        failure: vec![op(Request::RequestDeleteRange(pb::DeleteRangeRequest {
            key: b"n".to_vec(),
            ..Default::default()
        }))],
    };
    pb::TxnRequest {
        compare: vec![pb::Compare {
            result: pb::compare::CompareResult::Greater as i32,
            target: pb::compare::CompareTarget::Mod as i32,
            key: b"b".to_vec(),
            range_end: vec![],
            target_union: Some(pb::compare::TargetUnion::ModRevision(2)),
        }],
        success: vec![
            op(Request::RequestPut(put(b"x", b"y"))),
            op(Request::RequestRange(pb::RangeRequest {
                key: b"a".to_vec(),
                range_end: b"z".to_vec(),
                ..Default::default()
            })),
            op(Request::RequestTxn(nested)),
        ],
        failure: vec![op(Request::RequestRange(pb::RangeRequest {
            key: b"b".to_vec(),
            revision: 4,
            ..Default::default()
        }))],
    }
}

fn internal(f: impl FnOnce(&mut pb::InternalRaftRequest)) -> pb::InternalRaftRequest {
    let mut request = pb::InternalRaftRequest {
        header: Some(pb::RequestHeader {
            id: 42,
            ..Default::default()
        }),
        id: 42,
        ..Default::default()
    };
    f(&mut request);
    request
}

fn internal_requests() -> Vec<pb::InternalRaftRequest> {
    vec![
        internal(|r| r.put = Some(put(b"k", b"v"))),
        internal(|r| r.txn = Some(txn())),
        internal(|r| {
            r.delete_range = Some(pb::DeleteRangeRequest {
                key: b"a".to_vec(),
                range_end: vec![0],
                prev_kv: true,
            })
        }),
        internal(|r| {
            r.compaction = Some(pb::CompactionRequest {
                revision: 4,
                physical: false,
            })
        }),
        internal(|r| r.lease_grant = Some(pb::LeaseGrantRequest { ttl: 30, id: 9 })),
        internal(|r| r.lease_revoke = Some(pb::LeaseRevokeRequest { id: 7 })),
        // As alice, who may read [a, c) and write b (see etcd_rs_fuzz::Member).
        internal(|r| {
            r.put = Some(put(b"b", b"v"));
            if let Some(h) = &mut r.header {
                h.username = "alice".into();
                h.auth_revision = 1_000;
            }
        }),
        internal(|r| {
            r.auth_role_grant_permission = Some(pb::AuthRoleGrantPermissionRequest {
                name: "reader".into(),
                perm: Some(etcd_rs::pb::authpb::Permission {
                    perm_type: 2,
                    key: b"x".to_vec(),
                    range_end: vec![0],
                }),
            })
        }),
        internal(|r| {
            r.auth_user_add = Some(pb::AuthUserAddRequest {
                name: "bob".into(),
                hashed_password: "$2b$04$x".into(),
                ..Default::default()
            })
        }),
        internal(|r| {
            r.authenticate = Some(pb::InternalAuthenticateRequest {
                name: "alice".into(),
                checked_revision: 9,
                simple_token: "abc.1".into(),
            })
        }),
        internal(|r| r.auth_disable = Some(pb::AuthDisableRequest {})),
        internal(|r| {
            r.lease_checkpoint = Some(pb::LeaseCheckpointRequest {
                checkpoints: vec![pb::LeaseCheckpoint {
                    id: 7,
                    remaining_ttl: 20,
                }],
            })
        }),
    ]
}

fn raft_log_record() -> Vec<Vec<u8>> {
    let context = ConfContext {
        request_id: 3,
        kind: ChangeKind::Add,
        member: member(4),
    };
    let conf_change = ConfChange {
        transition: ConfChangeTransition::Auto,
        changes: vec![ConfChangeSingle {
            change_type: ConfChangeType::AddNode,
            node_id: NodeId(4),
        }],
        context: context.encode(),
    };
    let mut records: Vec<Vec<u8>> = internal_requests()
        .iter()
        .enumerate()
        .map(|(i, request)| {
            codec::encode_entry(&Entry {
                term: Term(2),
                index: LogIndex(10 + i as u64),
                entry_type: EntryType::Normal,
                data: request.encode_to_vec(),
            })
        })
        .collect();
    records.push(codec::encode_entry(&Entry {
        term: Term(2),
        index: LogIndex(20),
        entry_type: EntryType::ConfChange,
        data: conf_change.encode(),
    }));
    records.push(codec::encode_hard_state(&HardState {
        term: Term(2),
        vote: NodeId(1),
        commit: LogIndex(20),
    }));
    records.push(codec::encode_snapshot_metadata(&SnapshotMetadata {
        conf_state: ConfState {
            voters: [NodeId(1), NodeId(2), NodeId(3)].into(),
            learners: [NodeId(4)].into(),
            ..ConfState::default()
        },
        index: LogIndex(9),
        term: Term(2),
    }));
    // The state machine's snapshot: the fuzz member's store, with a lease, the
    // membership and a member's attributes in its meta entries.
    let mut state = etcd_rs_fuzz::Member::new();
    let lease = Lease {
        id: etcd_rs_fuzz::LEASE,
        ttl_secs: 60,
        remaining_ttl_secs: 0,
    };
    state
        .store
        .set_meta(&meta_key(lease.id), encode_lease(&lease));
    let mut ids = Vec::new();
    ids.extend_from_slice(&lease.id.to_be_bytes());
    state.store.set_meta(b"lease_ids", ids);
    let membership = Membership::bootstrap([member(1), member(2), member(3)]);
    state.store.set_meta(b"membership", membership.encode());
    let mut attributes_key = b"member_attributes/".to_vec();
    attributes_key.extend_from_slice(&1u64.to_be_bytes());
    let attributes = pb::MemberAttributes {
        id: 1,
        name: "m1".into(),
        client_urls: vec!["http://10.0.0.1:2379".into()],
    };
    state
        .store
        .set_meta(&attributes_key, attributes.encode_to_vec());
    state.store.commit().expect("commit");
    let snapshot = state_snapshot::encode(state.store.backend()).expect("state snapshot");
    records.push(codec::encode_snapshot_data(&snapshot));
    // The same records without their checksums (the target seals its input), and the
    // state snapshot without its own.
    let mut seeds = records.clone();
    seeds.extend(records.iter().map(|r| r[..r.len() - 4].to_vec()));
    let mut bare = vec![codec::FORMAT_VERSION];
    bare.extend_from_slice(&snapshot[..snapshot.len() - 4]);
    seeds.push(bare);
    seeds.push(codec::entry_key(LogIndex(7)).to_vec());
    seeds
}

fn messages() -> Vec<Message> {
    let entry = |index: u64, request: &pb::InternalRaftRequest| Entry {
        term: Term(2),
        index: LogIndex(index),
        entry_type: EntryType::Normal,
        data: request.encode_to_vec(),
    };
    let requests = internal_requests();
    let mut append = Message::new(MessageType::Append);
    append.to = NodeId(2);
    append.from = NodeId(1);
    append.term = Term(2);
    append.log_term = Term(2);
    append.index = LogIndex(9);
    append.commit = LogIndex(9);
    append.entries = vec![entry(10, &requests[0]), entry(11, &requests[1])];
    let mut response = Message::new(MessageType::AppendResponse);
    response.to = NodeId(1);
    response.from = NodeId(2);
    response.term = Term(2);
    response.index = LogIndex(11);
    response.reject = true;
    response.reject_hint = LogIndex(8);
    let mut heartbeat = Message::new(MessageType::Heartbeat);
    heartbeat.to = NodeId(3);
    heartbeat.from = NodeId(1);
    heartbeat.context = b"read-index".to_vec();
    let mut snapshot = Message::new(MessageType::Snapshot);
    snapshot.to = NodeId(4);
    snapshot.from = NodeId(1);
    snapshot.term = Term(2);
    snapshot.snapshot = Some(Snapshot {
        data: b"state".to_vec(),
        metadata: SnapshotMetadata {
            conf_state: ConfState {
                voters: [NodeId(1), NodeId(2)].into(),
                learners: [NodeId(4)].into(),
                voters_outgoing: [NodeId(1), NodeId(3)].into(),
                learners_next: [NodeId(3)].into(),
                auto_leave: true,
            },
            index: LogIndex(9),
            term: Term(2),
        },
    });
    vec![append, response, heartbeat, snapshot]
}

/// A chunk frame (kind 5: total length, offset, bytes), framed by hand: the encoder
/// only chunks messages over 1 MiB.
fn chunk_frame(total: usize, offset: usize, bytes: &[u8]) -> Vec<u8> {
    let mut payload = vec![5];
    payload.extend_from_slice(&(total as u64).to_be_bytes());
    payload.extend_from_slice(&(offset as u64).to_be_bytes());
    payload.extend_from_slice(bytes);
    let mut frame = b"ERSP".to_vec();
    frame.push(etcd_rs::transport::codec::VERSION);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame
}

fn peer_frame() -> Vec<Vec<u8>> {
    let mut streams = Vec::new();
    let mut connect = Vec::new();
    encode_hello(
        &Hello {
            cluster_id: 0xc1,
            from: NodeId(1),
            to: NodeId(2),
        },
        &mut connect,
    );
    encode_welcome(&mut connect);
    encode_ping(123_456, &mut connect);
    encode_pong(123_456, &mut connect);
    for message in messages() {
        encode_message(&message, &mut connect);
    }
    streams.push(connect);
    let mut join = Vec::new();
    encode_members_query(&mut join);
    let info = ClusterInfo {
        cluster_id: 0xc1,
        members: vec![member(1), member(2)],
    };
    encode_members(&info.encode(), &mut join);
    streams.push(join);
    let mut refused = Vec::new();
    encode_refuse("cluster id mismatch", &mut refused);
    streams.push(refused);
    let body = message_body(&messages()[0]);
    let third = body.len() / 3;
    let mut chunked = Vec::new();
    for (offset, end) in [(0, third), (third, 2 * third), (2 * third, body.len())] {
        chunked.extend(chunk_frame(body.len(), offset, &body[offset..end]));
    }
    streams.push(chunked);

    let mut seeds = Vec::new();
    for stream in &streams {
        for mode in [0u8, 1] {
            let mut seed = vec![mode];
            seed.extend_from_slice(stream);
            seeds.push(seed);
        }
    }
    for message in messages() {
        // Mode 2: one payload (kind 4, a message); mode 3: a message body.
        let body = message_body(&message);
        let mut payload = vec![2, 4];
        payload.extend_from_slice(&body);
        seeds.push(payload);
        let mut alone = vec![3];
        alone.extend_from_slice(&body);
        seeds.push(alone);
    }
    seeds
}

fn grpc_request() -> Vec<Vec<u8>> {
    let seed = |kind: u8, message: &dyn Fn() -> Vec<u8>| {
        let mut seed = vec![kind];
        seed.extend(message());
        seed
    };
    let mut seeds = vec![
        seed(0, &|| {
            pb::RangeRequest {
                key: b"a".to_vec(),
                range_end: b"z".to_vec(),
                limit: 2,
                sort_order: 2,
                sort_target: 3,
                min_mod_revision: 3,
                ..Default::default()
            }
            .encode_to_vec()
        }),
        seed(1, &|| {
            pb::PutRequest {
                lease: etcd_rs_fuzz::LEASE,
                prev_kv: true,
                ..put(b"c", b"5")
            }
            .encode_to_vec()
        }),
        seed(2, &|| {
            pb::DeleteRangeRequest {
                key: b"b".to_vec(),
                range_end: b"c".to_vec(),
                prev_kv: true,
            }
            .encode_to_vec()
        }),
        seed(3, &|| txn().encode_to_vec()),
        seed(6, &|| {
            pb::CompactionRequest {
                revision: 5,
                physical: true,
            }
            .encode_to_vec()
        }),
        seed(10, &|| {
            pb::WatchRequest {
                request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                    pb::WatchCreateRequest {
                        key: b"a".to_vec(),
                        range_end: vec![0],
                        start_revision: 2,
                        progress_notify: true,
                        filters: vec![1],
                        prev_kv: true,
                        watch_id: 3,
                        fragment: true,
                    },
                )),
            }
            .encode_to_vec()
        }),
        seed(11, &|| {
            pb::LeaseGrantRequest { ttl: 10, id: 5 }.encode_to_vec()
        }),
        seed(16, &|| {
            pb::MemberAddRequest {
                peer_ur_ls: vec!["http://10.0.0.9:2380".into()],
                is_learner: true,
            }
            .encode_to_vec()
        }),
        seed(21, &|| {
            pb::AlarmRequest {
                action: 1,
                member_id: 1,
                alarm: 1,
            }
            .encode_to_vec()
        }),
    ];
    for request in internal_requests() {
        seeds.push(seed(7, &|| request.encode_to_vec()));
    }
    seeds
}

fn gateway_json() -> Vec<Vec<u8>> {
    let bodies: &[&str] = &[
        r#"{"key":"Zm9v","range_end":"Zm9w","limit":"1","sort_order":"DESCEND","sort_target":"MOD","keys_only":true,"revision":4}"#,
        r#"{"key":"Yw==","value":"dg==","lease":"7","prev_kv":true}"#,
        r#"{"key":"YQ==","range_end":"AA==","prevKv":true}"#,
        r#"{"compare":[{"key":"Yg==","target":"MOD","result":"GREATER","mod_revision":"2"},{"key":"YQ==","target":"VALUE","result":"EQUAL","value":"MQ=="}],"success":[{"requestTxn":{"success":[{"requestPut":{"key":"eA==","value":"eQ=="}}]}},{"request_delete_range":{"key":"Yg=="}}],"failure":[{"request_range":{"key":[98],"count_only":true}}]}"#,
        r#"{"revision":"5","physical":true}"#,
        r#"{"TTL":"30","ID":9}"#,
        r#"{"ID":"7","keys":true}"#,
        r#"{"create_request":{"key":"YQ==","range_end":"AA==","start_revision":"2","filters":["NODELETE"],"prev_kv":true,"watch_id":"3"}}{"cancel_request":{"watch_id":"3"}}{"progress_request":{}}"#,
        r#"{"ID":"7"} {"ID":"9"}"#,
        r#"{"name":"ZWw=","lease":"7","value":"djE="}"#,
        r#"{"leader":{"name":"ZWw=","key":"ZWwvNw==","rev":"2","lease":"7"},"value":"djI="}"#,
        r#"{"peerURLs":["http://10.0.0.9:2380"],"isLearner":true}"#,
        r#"{"ID":"18446744073709551615","peerURLs":["http://a:1",null,"\u00e9"]}"#,
        r#"{"action":"ACTIVATE","memberID":"1","alarm":"NOSPACE"}"#,
        r#"{"targetID":"2"}"#,
        "",
        "null",
        "[1,2.5e3,-0,true,false,null,\"\\ud83d\\ude00\"]",
    ];
    let mut seeds: Vec<Vec<u8>> = bodies.iter().map(|b| b.as_bytes().to_vec()).collect();
    // Streaming bodies arriving 1 and 7 bytes at a time (the last byte, see the target).
    for body in &bodies[7..9] {
        for piece in [1u8, 7] {
            let mut seed = body.as_bytes().to_vec();
            seed.push(0x7f + piece);
            seeds.push(seed);
        }
    }
    seeds
}

fn main() {
    write("raft_log_record", &raft_log_record());
    write("peer_frame", &peer_frame());
    write("grpc_request", &grpc_request());
    write("gateway_json", &gateway_json());
}
