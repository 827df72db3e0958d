//! Request bodies of the JSON gateway (`api/gateway/`), through
//! `api::gateway::decode_for_fuzzing`: Go's JSON scanner (`scan`), the lazy value reader
//! (`value`), jsonpb's field rules (`jsonpb`, `base64`), every call's request decoder,
//! the gRPC size limit, and the streaming calls' reading of a body that arrives in
//! pieces (Watch, LeaseKeepAlive). The KV requests the gateway decodes then go through
//! the KV service's checks and, if they pass, execution on a small store, as the gateway
//! hands them to the same service as gRPC clients (see `etcd_rs_fuzz::serve_kv`).
//!
//! The input is the body, except that the last byte, if it is not a JSON byte (above
//! 0x7f), gives the size of the pieces the streaming calls receive (1 to 128 bytes).

#![no_main]

use etcd_rs::api::gateway::decode_for_fuzzing;
use etcd_rs::pb::etcdserverpb as pb;
use etcd_rs_fuzz::{KvRequest, Member, serve_kv};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// etcd's default `--max-request-bytes` and the gRPC server's overhead over it.
const MESSAGE_BYTES_MAX: usize = 1_572_864 + 512 * 1024;

fuzz_target!(|data: &[u8]| {
    let (body, pieces) = match data.split_last() {
        Some((&last, body)) if last > 0x7f => (body, vec![usize::from(last - 0x7f)]),
        _ => (data, Vec::new()),
    };
    let mut member = None;
    for (path, decoded) in decode_for_fuzzing(body, &pieces, MESSAGE_BYTES_MAX) {
        let Ok(bytes) = decoded else {
            continue;
        };
        let member = member.get_or_insert_with(Member::new);
        let bytes = bytes.as_slice();
        match path {
            "/kv/range" => {
                if let Ok(r) = pb::RangeRequest::decode(bytes) {
                    serve_kv(member, KvRequest::Range(&r));
                }
            }
            "/kv/put" => {
                if let Ok(r) = pb::PutRequest::decode(bytes) {
                    serve_kv(member, KvRequest::Put(&r));
                }
            }
            "/kv/deleterange" => {
                if let Ok(r) = pb::DeleteRangeRequest::decode(bytes) {
                    serve_kv(member, KvRequest::DeleteRange(&r));
                }
            }
            "/kv/txn" => {
                if let Ok(r) = pb::TxnRequest::decode(bytes) {
                    serve_kv(member, KvRequest::Txn(&r));
                }
            }
            "/kv/compaction" => {
                if let Ok(r) = pb::CompactionRequest::decode(bytes) {
                    serve_kv(member, KvRequest::Compact(&r));
                }
            }
            _ => {}
        }
    }
});
