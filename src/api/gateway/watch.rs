//! The Watch service's messages as JSON: one `WatchRequest` per object of the request
//! body, one `WatchResponse` per line of the answer.

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::kv::{header, key_value};
use crate::pb::etcdserverpb::{self as pb, watch_create_request::FilterType};
use crate::pb::mvccpb::{self, event::EventType};

/// A `WatchRequest`: its `request_union` oneof, given under one of the members' names.
/// jsonpb reads the members of a oneof in no fixed order; here the last one named in the
/// proto wins when a body gives several, as for a txn's `RequestOp`.
pub fn watch_request(f: &Fields<'_>) -> Result<pb::WatchRequest, DecodeError> {
    use pb::watch_request::RequestUnion;
    let mut request_union = None;
    if let Some(r) = f.message("create_request", "createRequest", |f| create_request(&f))? {
        request_union = Some(RequestUnion::CreateRequest(r));
    }
    if let Some(r) = f.message("cancel_request", "cancelRequest", |f| {
        Ok(pb::WatchCancelRequest {
            watch_id: f.int64("watch_id", "watchId")?,
        })
    })? {
        request_union = Some(RequestUnion::CancelRequest(r));
    }
    if let Some(r) = f.message("progress_request", "progressRequest", |_| {
        Ok(pb::WatchProgressRequest {})
    })? {
        request_union = Some(RequestUnion::ProgressRequest(r));
    }
    Ok(pb::WatchRequest { request_union })
}

fn create_request(f: &Fields<'_>) -> Result<pb::WatchCreateRequest, DecodeError> {
    Ok(pb::WatchCreateRequest {
        key: f.bytes("key", "key")?,
        range_end: f.bytes("range_end", "rangeEnd")?,
        start_revision: f.int64("start_revision", "startRevision")?,
        progress_notify: f.boolean("progress_notify", "progressNotify")?,
        filters: f.repeated_enumeration(
            "filters",
            "filters",
            "etcdserverpb.WatchCreateRequest_FilterType",
            |name| FilterType::from_str_name(name).map(|v| v as i32),
        )?,
        prev_kv: f.boolean("prev_kv", "prevKv")?,
        watch_id: f.int64("watch_id", "watchId")?,
        fragment: f.boolean("fragment", "fragment")?,
    })
}

/// A `WatchResponse`.
pub fn watch_response(r: &pb::WatchResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .int64("watch_id", r.watch_id)
        .boolean("created", r.created)
        .boolean("canceled", r.canceled)
        .int64("compact_revision", r.compact_revision)
        .string("cancel_reason", &r.cancel_reason)
        .boolean("fragment", r.fragment)
        .array("events", r.events.iter().map(event).collect())
        .finish()
}

/// An `mvccpb.Event`: its type by name (`"DELETE"`; a PUT is 0, left out).
fn event(e: &mvccpb::Event) -> String {
    Object::new()
        .enumeration("type", e.r#type, |v| {
            EventType::try_from(v).ok().map(|t| t.as_str_name())
        })
        .message("kv", e.kv.as_ref().map(key_value))
        .message("prev_kv", e.prev_kv.as_ref().map(key_value))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::super::jsonpb::fields;
    use super::*;

    #[test]
    fn reads_a_create_request_under_either_name() {
        let request = watch_request(&fields(
            r#"{"createRequest":{"key":"d2s=","watchId":"9","startRevision":3,"prev_kv":true,"filters":["NODELETE",0]}}"#,
        ))
        .unwrap();
        let Some(pb::watch_request::RequestUnion::CreateRequest(create)) = request.request_union
        else {
            panic!("a create request: {request:?}");
        };
        assert_eq!(create.key, b"wk");
        assert_eq!((create.watch_id, create.start_revision), (9, 3));
        assert!(create.prev_kv);
        assert_eq!(create.filters, [1, 0]);
        assert_eq!(
            watch_request(&fields(r#"{"create_request":null}"#)).unwrap(),
            pb::WatchRequest::default()
        );
    }

    /// As etcd 3.4's gateway wrote a delete event seen with its previous value.
    #[test]
    fn writes_events_as_etcd_does() {
        let kv = |value: &[u8], modified| mvccpb::KeyValue {
            key: b"wk".to_vec(),
            create_revision: if value.is_empty() { 0 } else { 20 },
            mod_revision: modified,
            version: if value.is_empty() { 0 } else { 1 },
            value: value.to_vec(),
            lease: 0,
        };
        let response = pb::WatchResponse {
            header: Some(pb::ResponseHeader {
                revision: 21,
                ..Default::default()
            }),
            watch_id: 7,
            events: vec![mvccpb::Event {
                r#type: EventType::Delete as i32,
                kv: Some(kv(b"", 21)),
                prev_kv: Some(kv(b"1", 20)),
            }],
            ..Default::default()
        };
        assert_eq!(
            watch_response(&response),
            r#"{"header":{"revision":"21"},"watch_id":"7","events":[{"type":"DELETE","kv":{"key":"d2s=","mod_revision":"21"},"prev_kv":{"key":"d2s=","create_revision":"20","mod_revision":"20","version":"1","value":"MQ=="}}]}"#
        );
    }
}
