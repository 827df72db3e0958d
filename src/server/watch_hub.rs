//! The WatchHub actor: every watcher of one member.
//!
//! The Applier sends it the events of each committed batch, in revision order. A watcher
//! is *synced* when it has been sent everything up to the current revision; it then gets
//! new events as they come. A watcher that starts in the past, or whose stream fell
//! behind, is *unsynced*: the hub catches it up from the MVCC history (read through the
//! Applier) in rounds, without holding anyone else back, until it is synced again.
//!
//! Guarantees, per watcher: events in revision order, never duplicated, never skipped;
//! all events of one revision in one response (unless the client asked for fragments).
//! Memory is bounded: each stream may hold at most [`STREAM_EVENT_RESPONSES_MAX`] unread
//! event responses; past that, its watchers turn unsynced and are caught up from the
//! store once the client reads again, so a stream that does not read never stalls the
//! Applier or the other streams.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use prost::Message as _;
use tokio::sync::mpsc;

use super::convert;
use crate::mvcc::{self, Event, EventType, KeyRange};
use crate::pb::{etcdserverpb as pb, mvccpb};

/// Unread event responses a stream may hold before its watchers turn unsynced.
pub const STREAM_EVENT_RESPONSES_MAX: usize = 128;
/// Events read from the store per catch-up round.
const CATCH_UP_EVENTS_MAX: usize = 10_000;
/// How often unsynced watchers are caught up.
const CATCH_UP_INTERVAL: Duration = Duration::from_millis(10);
/// etcd's default `--experimental-watch-progress-notify-interval`.
const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(600);

/// A response on its way to a watch stream. `counted` responses carry events and count
/// against the stream's bound.
pub struct Outgoing {
    /// The response.
    pub response: pb::WatchResponse,
    /// Whether it counts against [`STREAM_EVENT_RESPONSES_MAX`].
    pub counted: bool,
}

/// A stream's channel, as the hub holds it.
#[derive(Clone)]
pub struct StreamSink {
    /// Where responses go.
    pub tx: mpsc::UnboundedSender<Outgoing>,
    /// Counted responses sent but not yet taken by the client's stream.
    pub unread: Arc<AtomicUsize>,
}

/// Builds response headers at a revision.
pub type HeaderFn = Arc<dyn Fn(i64) -> pb::ResponseHeader + Send + Sync>;

/// Events of a committed batch, in order, and the store's revisions after it.
/// Counted in its actor's mailbox depth: a sender MUST call `Mailbox::sent` (see
/// [`crate::metrics::actors`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CommittedEvents {
    /// The events.
    pub events: Vec<Event>,
    /// The current revision after the batch.
    pub revision: i64,
    /// The compacted revision after the batch.
    pub compacted: i64,
    /// The store was replaced by a snapshot: every watcher catches up from it.
    pub restored: bool,
}

/// Read events in `[start, end)` from the store (at most `limit`), with each event's
/// previous key-value if `prev_kv`.
#[derive(Message)]
#[rtype(result = "Result<HistoryRead, mvcc::Error>")]
pub struct ReadHistory {
    /// First revision.
    pub start: i64,
    /// End revision (exclusive).
    pub end: i64,
    /// At most this many events.
    pub limit: usize,
    /// Fill `prev_kv`.
    pub prev_kv: bool,
}

/// What a history read found.
pub struct HistoryRead {
    /// The events.
    pub events: Vec<Event>,
    /// The compacted revision at the time of the read.
    pub compacted: i64,
}

/// Opens a stream; answers its id.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct OpenStream(pub StreamSink);

/// Closes a stream and its watchers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseStream(pub u64);

/// A request on a stream.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StreamRequest {
    /// The stream.
    pub stream: u64,
    /// The request.
    pub request: pb::watch_request::RequestUnion,
}

struct Watcher {
    key: Vec<u8>,
    range_end: Vec<u8>,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    progress_notify: bool,
    fragment: bool,
    /// The next revision this watcher needs.
    next_rev: i64,
    synced: bool,
    /// Whether anything was sent since the last progress notification.
    sent_since_progress: bool,
}

impl Watcher {
    fn wants(&self, event: &Event) -> bool {
        let kind_ok = match event.kind {
            EventType::Put => !self.no_put,
            EventType::Delete => !self.no_delete,
        };
        kind_ok && KeyRange::new(&self.key, &self.range_end).contains(&event.kv.key)
    }
}

struct Stream {
    sink: StreamSink,
    watchers: BTreeMap<i64, Watcher>,
    next_watch_id: i64,
}

/// The WatchHub of one member.
pub struct WatchHub {
    streams: HashMap<u64, Stream>,
    next_stream: u64,
    revision: i64,
    compacted: i64,
    history: Recipient<ReadHistory>,
    header: HeaderFn,
    max_response_bytes: usize,
    progress_interval: Duration,
    catch_up_in_flight: bool,
    metrics: Arc<crate::metrics::MemberMetrics>,
}

impl WatchHub {
    /// A hub reading history through `history`. `max_response_bytes` (etcd's
    /// --max-request-bytes) is where fragmenting watchers split responses.
    pub fn new(
        history: Recipient<ReadHistory>,
        header: HeaderFn,
        revision: i64,
        compacted: i64,
        max_response_bytes: usize,
        progress_interval: Duration,
        metrics: Arc<crate::metrics::MemberMetrics>,
    ) -> WatchHub {
        WatchHub {
            streams: HashMap::new(),
            next_stream: 1,
            revision,
            compacted,
            history,
            header,
            max_response_bytes,
            progress_interval: if progress_interval.is_zero() {
                DEFAULT_PROGRESS_INTERVAL
            } else {
                progress_interval
            },
            catch_up_in_flight: false,
            metrics,
        }
    }

    /// Updates the watcher gauges.
    fn count_watchers(&self) {
        let (mut all, mut slow) = (0, 0);
        for stream in self.streams.values() {
            for watcher in stream.watchers.values() {
                all += 1;
                slow += i64::from(!watcher.synced);
            }
        }
        self.metrics.watchers.set(all);
        self.metrics.slow_watchers.set(slow);
    }

    fn control(&self, stream: &Stream, response: pb::WatchResponse) {
        let _ = stream.sink.tx.send(Outgoing {
            response,
            counted: false,
        });
    }

    fn create(&mut self, stream_id: u64, request: pb::WatchCreateRequest) {
        let revision = self.revision;
        let header = Some((self.header)(revision));
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        let refuse = |reason: &str| pb::WatchResponse {
            header,
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: reason.to_string(),
            ..Default::default()
        };
        if !request.range_end.is_empty()
            && request.range_end != b"\0"
            && request.key >= request.range_end
        {
            let response = refuse("mvcc: watcher range is empty");
            let _ = stream.sink.tx.send(Outgoing {
                response,
                counted: false,
            });
            return;
        }
        let id = if request.watch_id != 0 {
            if stream.watchers.contains_key(&request.watch_id) {
                let response = refuse("mvcc: duplicate watch ID provided on the WatchStream");
                let _ = stream.sink.tx.send(Outgoing {
                    response,
                    counted: false,
                });
                return;
            }
            request.watch_id
        } else {
            while stream.watchers.contains_key(&stream.next_watch_id) {
                stream.next_watch_id += 1;
            }
            stream.next_watch_id
        };
        let no_put = request
            .filters
            .contains(&(pb::watch_create_request::FilterType::Noput as i32));
        let no_delete = request
            .filters
            .contains(&(pb::watch_create_request::FilterType::Nodelete as i32));
        let start = request.start_revision;
        let synced = start <= 0 || start > revision;
        let watcher = Watcher {
            key: request.key,
            range_end: request.range_end,
            no_put,
            no_delete,
            prev_kv: request.prev_kv,
            progress_notify: request.progress_notify,
            fragment: request.fragment,
            next_rev: if synced {
                revision.max(start - 1) + 1
            } else {
                start
            },
            synced,
            sent_since_progress: false,
        };
        let created = pb::WatchResponse {
            header,
            watch_id: id,
            created: true,
            ..Default::default()
        };
        let _ = stream.sink.tx.send(Outgoing {
            response: created,
            counted: false,
        });
        stream.watchers.insert(id, watcher);
        if !synced && start < self.compacted {
            self.cancel_compacted(stream_id, id);
        }
    }

    /// etcd's answer to a watcher whose next revision was compacted away: the compact
    /// revision, and the watcher is gone.
    fn cancel_compacted(&mut self, stream_id: u64, id: i64) {
        // etcd's compaction answer carries no revision in its header.
        let header = Some((self.header)(0));
        let compacted = self.compacted;
        if let Some(stream) = self.streams.get_mut(&stream_id)
            && stream.watchers.remove(&id).is_some()
        {
            let response = pb::WatchResponse {
                header,
                watch_id: id,
                compact_revision: compacted,
                canceled: true,
                // etcd leaves the reason empty: clients tell it from compact_revision.
                ..Default::default()
            };
            let _ = stream.sink.tx.send(Outgoing {
                response,
                counted: false,
            });
        }
    }

    fn cancel(&mut self, stream_id: u64, id: i64) {
        let header = Some((self.header)(self.revision));
        if let Some(stream) = self.streams.get_mut(&stream_id)
            && stream.watchers.remove(&id).is_some()
        {
            let response = pb::WatchResponse {
                header,
                watch_id: id,
                canceled: true,
                ..Default::default()
            };
            self.control(&self.streams[&stream_id], response);
        }
    }

    /// etcd 3.4's answer to a progress request: one response for the whole stream,
    /// `watch_id` -1, at a revision every watcher of the stream has been sent.
    fn progress(&mut self, stream_id: u64) {
        let Some(stream) = self.streams.get(&stream_id) else {
            return;
        };
        let delivered = stream
            .watchers
            .values()
            .map(|w| w.next_rev - 1)
            .min()
            .unwrap_or(self.revision)
            .min(self.revision);
        let response = pb::WatchResponse {
            header: Some((self.header)(delivered)),
            watch_id: -1,
            ..Default::default()
        };
        self.control(stream, response);
    }

    /// Sends `events` (already filtered for the watcher) as one response, or as
    /// fragments. Returns false if the stream is full (nothing was sent).
    fn deliver(
        sink: &StreamSink,
        header: pb::ResponseHeader,
        id: i64,
        watcher: &Watcher,
        events: Vec<mvccpb::Event>,
        max_bytes: usize,
    ) -> bool {
        if sink.unread.load(Ordering::Acquire) >= STREAM_EVENT_RESPONSES_MAX {
            return false;
        }
        let whole = pb::WatchResponse {
            header: Some(header),
            watch_id: id,
            events,
            ..Default::default()
        };
        let responses = if watcher.fragment && whole.encoded_len() > max_bytes {
            fragments(whole, max_bytes)
        } else {
            vec![whole]
        };
        for response in responses {
            sink.unread.fetch_add(1, Ordering::AcqRel);
            let _ = sink.tx.send(Outgoing {
                response,
                counted: true,
            });
        }
        true
    }

    fn on_events(&mut self, batch: CommittedEvents, ctx: &mut Context<Self>) {
        self.revision = batch.revision;
        self.compacted = batch.compacted;
        if batch.restored {
            for stream in self.streams.values_mut() {
                for watcher in stream.watchers.values_mut() {
                    watcher.synced = false;
                }
            }
            self.catch_up(ctx);
            return;
        }
        let header = (self.header)(self.revision);
        let max_bytes = self.max_response_bytes;
        let mut fell_behind = false;
        for stream in self.streams.values_mut() {
            for (&id, watcher) in stream.watchers.iter_mut() {
                if !watcher.synced {
                    continue;
                }
                let events: Vec<mvccpb::Event> = batch
                    .events
                    .iter()
                    .filter(|e| e.kv.mod_revision >= watcher.next_rev && watcher.wants(e))
                    .map(|e| event_pb(e, watcher.prev_kv))
                    .collect();
                if !events.is_empty() {
                    let sent = Self::deliver(&stream.sink, header, id, watcher, events, max_bytes);
                    if !sent {
                        // The client is not reading: it gets this batch (its `next_rev`
                        // is still the first revision it lacks) from the store later.
                        watcher.synced = false;
                        fell_behind = true;
                        continue;
                    }
                    watcher.sent_since_progress = true;
                }
                watcher.next_rev = watcher.next_rev.max(self.revision + 1);
            }
        }
        if fell_behind {
            self.catch_up(ctx);
        }
    }

    /// One catch-up round for every unsynced watcher: one history read from the lowest
    /// revision any of them needs, shared out.
    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        if self.catch_up_in_flight {
            return;
        }
        let unsynced = self
            .streams
            .values()
            .flat_map(|s| s.watchers.values().map(move |w| (s, w)))
            .filter(|(s, w)| {
                !w.synced && s.sink.unread.load(Ordering::Acquire) < STREAM_EVENT_RESPONSES_MAX
            });
        let (mut start, mut prev_kv) = (i64::MAX, false);
        for (_, w) in unsynced {
            start = start.min(w.next_rev);
            prev_kv |= w.prev_kv;
        }
        if start == i64::MAX {
            return;
        }
        let end = self.revision + 1;
        if start >= end {
            // Nothing to read: they are synced.
            for stream in self.streams.values_mut() {
                for w in stream.watchers.values_mut().filter(|w| !w.synced) {
                    if w.next_rev >= end {
                        w.synced = true;
                    }
                }
            }
            return;
        }
        self.catch_up_in_flight = true;
        let read = ReadHistory {
            start,
            end,
            limit: CATCH_UP_EVENTS_MAX,
            prev_kv,
        };
        self.history
            .send(read)
            .into_actor(self)
            .then(move |result, act, _| {
                act.catch_up_in_flight = false;
                match result {
                    Ok(Ok(read)) => act.on_history(start, end, read),
                    Ok(Err(mvcc::Error::Compacted)) => act.on_compacted(start),
                    Ok(Err(e)) => eprintln!("etcd-rs: watch catch-up failed: {e}"),
                    Err(e) => eprintln!("etcd-rs: watch catch-up failed: {e}"),
                }
                fut::ready(())
            })
            .spawn(ctx);
    }

    fn on_compacted(&mut self, start: i64) {
        let victims: Vec<(u64, i64)> = self
            .streams
            .iter()
            .flat_map(|(&s, stream)| {
                stream
                    .watchers
                    .iter()
                    .filter(|(_, w)| !w.synced && w.next_rev < start.max(self.compacted + 1))
                    .map(move |(&id, _)| (s, id))
            })
            .collect();
        for (stream, id) in victims {
            self.cancel_compacted(stream, id);
        }
    }

    fn on_history(&mut self, start: i64, end: i64, read: HistoryRead) {
        self.compacted = self.compacted.max(read.compacted);
        let mut events = read.events;
        // Covered up to: everything below `end`, unless the read was cut short; then
        // drop the last (maybe partial) revision and resume from it.
        let mut covered_to = end;
        if events.len() >= CATCH_UP_EVENTS_MAX
            && let Some(last) = events.last().map(|e| e.kv.mod_revision)
        {
            if events.iter().all(|e| e.kv.mod_revision == last) {
                // One revision larger than the limit: deliver it whole.
                covered_to = last + 1;
            } else {
                events.retain(|e| e.kv.mod_revision < last);
                covered_to = last;
            }
        }
        let header = (self.header)(covered_to - 1);
        let max_bytes = self.max_response_bytes;
        let revision = self.revision;
        for stream in self.streams.values_mut() {
            for (&id, watcher) in stream.watchers.iter_mut() {
                if watcher.synced || watcher.next_rev < start || watcher.next_rev >= covered_to {
                    continue;
                }
                let mine: Vec<mvccpb::Event> = events
                    .iter()
                    .filter(|e| e.kv.mod_revision >= watcher.next_rev && watcher.wants(e))
                    .map(|e| event_pb(e, watcher.prev_kv))
                    .collect();
                if !mine.is_empty() {
                    if !Self::deliver(&stream.sink, header, id, watcher, mine, max_bytes) {
                        continue;
                    }
                    watcher.sent_since_progress = true;
                }
                watcher.next_rev = covered_to;
                if covered_to > revision {
                    watcher.synced = true;
                }
            }
        }
    }

    fn notify_progress(&mut self) {
        let header = (self.header)(self.revision);
        for stream in self.streams.values_mut() {
            for (&id, watcher) in stream.watchers.iter_mut() {
                if watcher.progress_notify && watcher.synced && !watcher.sent_since_progress {
                    let _ = stream.sink.tx.send(Outgoing {
                        response: pb::WatchResponse {
                            header: Some(header),
                            watch_id: id,
                            ..Default::default()
                        },
                        counted: false,
                    });
                }
                watcher.sent_since_progress = false;
            }
        }
    }
}

/// Splits a response's events over several responses of at most `max_bytes` each (a
/// single larger event goes alone); all but the last say `fragment`.
fn fragments(whole: pb::WatchResponse, max_bytes: usize) -> Vec<pb::WatchResponse> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for event in whole.events {
        let len = event.encoded_len() + 8;
        if !current.is_empty() && size + len > max_bytes {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(event);
    }
    out.push(current);
    let count = out.len();
    out.into_iter()
        .enumerate()
        .map(|(i, events)| pb::WatchResponse {
            header: whole.header,
            watch_id: whole.watch_id,
            fragment: i + 1 < count,
            events,
            ..Default::default()
        })
        .collect()
}

fn event_pb(event: &Event, prev_kv: bool) -> mvccpb::Event {
    mvccpb::Event {
        r#type: match event.kind {
            EventType::Put => mvccpb::event::EventType::Put as i32,
            EventType::Delete => mvccpb::event::EventType::Delete as i32,
        },
        kv: Some(convert::key_value(event.kv.clone())),
        prev_kv: if prev_kv {
            event.prev_kv.clone().map(convert::key_value)
        } else {
            None
        },
    }
}

impl Actor for WatchHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(CATCH_UP_INTERVAL, |act, ctx| act.catch_up(ctx));
        ctx.run_interval(self.progress_interval, |act, _| act.notify_progress());
        ctx.run_interval(Duration::from_secs(1), |act, _| act.count_watchers());
    }
}

impl Handler<CommittedEvents> for WatchHub {
    type Result = ();

    fn handle(&mut self, batch: CommittedEvents, ctx: &mut Context<Self>) {
        let _handling = self.metrics.actors.watch_hub.handling("CommittedEvents");
        self.on_events(batch, ctx);
    }
}

impl Handler<OpenStream> for WatchHub {
    type Result = u64;

    fn handle(&mut self, OpenStream(sink): OpenStream, _: &mut Context<Self>) -> u64 {
        let id = self.next_stream;
        self.next_stream += 1;
        self.streams.insert(
            id,
            Stream {
                sink,
                watchers: BTreeMap::new(),
                next_watch_id: 0,
            },
        );
        id
    }
}

impl Handler<CloseStream> for WatchHub {
    type Result = ();

    fn handle(&mut self, CloseStream(id): CloseStream, _: &mut Context<Self>) {
        self.streams.remove(&id);
    }
}

impl Handler<StreamRequest> for WatchHub {
    type Result = ();

    fn handle(&mut self, request: StreamRequest, ctx: &mut Context<Self>) {
        use pb::watch_request::RequestUnion;
        match request.request {
            RequestUnion::CreateRequest(create) => {
                self.create(request.stream, create);
                self.catch_up(ctx);
            }
            RequestUnion::CancelRequest(cancel) => self.cancel(request.stream, cancel.watch_id),
            RequestUnion::ProgressRequest(_) => self.progress(request.stream),
        }
    }
}
