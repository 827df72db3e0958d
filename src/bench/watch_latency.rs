//! `watch-latency`, as etcd 3.5's tool measures it: `--streams` watch streams carry
//! `--watchers-per-stream` watches each of one key; a writer on its own connection puts
//! that key `--put-total` times at `--put-rate` per second. The put summary is the puts'
//! latency; the watch summary is, for every (watch, event), the event's arrival minus the
//! arrival of its put's acknowledgement (0 when the event came first), as etcd's.
//! Because etcd sends events as it applies, before it answers the put, that figure is
//! mostly 0 on one machine; a third summary measures from the put's sending instead
//! (commit, apply and fan-out), which is what the comparison tables use.
//!
//! Events are matched to puts by revision, so a late event is charged to its own put.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Channel;

use super::BenchError;
use super::conn;
use super::flags::{Global, WatchLatencyFlags};
use super::keys::{Rng, printable};
use super::progress::Progress;
use super::report::{PREALLOCATED_LATENCIES_MAX, Recorder, Report};
use super::requests::REQUEST_TIMEOUT;
use crate::pb::etcdserverpb::kv_client::KvClient;
use crate::pb::etcdserverpb::watch_client::WatchClient;
use crate::pb::etcdserverpb::{PutRequest, WatchCreateRequest, WatchRequest, WatchResponse};
use crate::pb::mvccpb::event::EventType;

/// How long the watches may take to be created, all streams together.
const WATCH_CREATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the watchers may take to receive their last events after the last put was
/// acknowledged; events still missing then count as errors.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One watch stream whose watches are all created.
struct Stream {
    /// Kept open until the end: closing it would end the stream's requests.
    requests: mpsc::Sender<WatchRequest>,
    responses: Streaming<WatchResponse>,
}

/// What one stream's watches received: (revision of a PUT event, arrival time).
struct Received {
    events: Vec<(i64, Instant)>,
    error: Option<String>,
}

/// The three summaries of a run.
pub struct Reports {
    /// The puts' latency.
    pub puts: Report,
    /// Each event's arrival after its put's acknowledgement (etcd's figure).
    pub events_from_ack: Report,
    /// Each event's arrival after its put was sent.
    pub events_from_send: Report,
}

/// Runs the benchmark.
pub async fn run(
    global: &Global,
    endpoints: &[String],
    flags: &WatchLatencyFlags,
) -> Result<Reports, BenchError> {
    let mut rng = Rng::from_clock(0);
    let key = printable(&mut rng, flags.key_size);
    let value = printable(&mut rng, flags.val_size);

    let channels = conn::open(endpoints, global.conns, global).await?;
    let mut streams = Vec::with_capacity(flags.streams);
    let created_by = tokio::time::Instant::now() + WATCH_CREATE_TIMEOUT;
    for i in 0..flags.streams {
        // As etcd's tool: stream i belongs to client i % clients, client c to conn c % conns.
        let channel = channels[(i % global.clients) % channels.len()].clone();
        let open = open_stream(channel, &key, flags);
        let stream = tokio::time::timeout_at(created_by, open)
            .await
            .map_err(|_| {
                BenchError::Other(format!(
                    "the watches were not all created within {WATCH_CREATE_TIMEOUT:?}"
                ))
            })??;
        streams.push(stream);
    }

    let events_per_stream = flags.put_total as usize * flags.watchers_per_stream;
    let progress = Progress::start((events_per_stream * flags.streams) as u64);
    let receivers: Vec<_> = streams
        .into_iter()
        .map(|stream| tokio::spawn(receive(stream, events_per_stream, progress.counter())))
        .collect();

    let mut writer = KvClient::new(conn::connect(&endpoints[0], global).await?);
    let interval = Duration::from_secs_f64(1.0 / flags.put_rate as f64);
    let mut puts = Recorder::with_capacity(flags.put_total as usize);
    // Revision of each acknowledged put -> (sent, acknowledged).
    let mut acked: HashMap<i64, (Instant, Instant)> =
        HashMap::with_capacity((flags.put_total as usize).min(PREALLOCATED_LATENCIES_MAX));
    let started = Instant::now();
    for i in 0..flags.put_total {
        tokio::time::sleep_until((started + interval.mul_f64(i as f64)).into()).await;
        let put = PutRequest {
            key: key.clone(),
            value: value.clone(),
            ..PutRequest::default()
        };
        let sent = Instant::now();
        match tokio::time::timeout(REQUEST_TIMEOUT, writer.put(put)).await {
            Ok(Ok(response)) => {
                let ack = Instant::now();
                puts.ok(ack - sent);
                let revision = response.into_inner().header.map_or(0, |h| h.revision);
                acked.insert(revision, (sent, ack));
            }
            Ok(Err(status)) => puts.error(super::status_text(&status)),
            Err(_) => puts.error(format!("no answer within {REQUEST_TIMEOUT:?}")),
        }
    }
    let puts = puts.finish("put", started.elapsed());

    let mut from_ack = Recorder::with_capacity(events_per_stream * flags.streams);
    let mut from_send = Recorder::with_capacity(events_per_stream * flags.streams);
    let drained_by = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    let mut last_arrival = started;
    let mut delivered = 0u64;
    for receiver in receivers {
        let received = match tokio::time::timeout_at(drained_by, receiver).await {
            Ok(Ok(received)) => received,
            Ok(Err(e)) => Received {
                events: Vec::new(),
                error: Some(format!("watch task failed: {e}")),
            },
            Err(_) => Received {
                events: Vec::new(),
                error: Some(format!(
                    "events still missing {DRAIN_TIMEOUT:?} after the last put"
                )),
            },
        };
        for (revision, arrival) in received.events {
            if let Some((sent, ack)) = acked.get(&revision) {
                from_ack.ok(arrival.saturating_duration_since(*ack));
                from_send.ok(arrival.saturating_duration_since(*sent));
                last_arrival = last_arrival.max(arrival);
                delivered += 1;
            }
        }
        if let Some(error) = received.error {
            from_ack.error(error.clone());
            from_send.error(error);
        }
    }
    progress.finish();
    let expected = acked.len() as u64 * (flags.streams * flags.watchers_per_stream) as u64;
    if delivered < expected {
        let missing = "event of an acknowledged put not received";
        from_ack.errors(missing, expected - delivered);
        from_send.errors(missing, expected - delivered);
    }
    let watchers = format!(
        "{} streams x {} watchers",
        flags.streams, flags.watchers_per_stream
    );
    Ok(Reports {
        puts,
        events_from_ack: from_ack.finish(
            format!("watch events from put ack ({watchers})"),
            last_arrival - started,
        ),
        events_from_send: from_send.finish(
            format!("watch events from put send ({watchers})"),
            last_arrival - started,
        ),
    })
}

/// Opens a watch stream on `channel` and creates its watches of `key`, waiting for the
/// server to confirm each.
async fn open_stream(
    channel: Channel,
    key: &[u8],
    flags: &WatchLatencyFlags,
) -> Result<Stream, BenchError> {
    // Room for every create request, so that queueing them never waits.
    let (requests, queue) = mpsc::channel(flags.watchers_per_stream);
    for _ in 0..flags.watchers_per_stream {
        let create = WatchCreateRequest {
            key: key.to_vec(),
            prev_kv: flags.prevkv,
            ..WatchCreateRequest::default()
        };
        let request = WatchRequest {
            request_union: Some(
                crate::pb::etcdserverpb::watch_request::RequestUnion::CreateRequest(create),
            ),
        };
        requests
            .send(request)
            .await
            .map_err(|_| BenchError::Other("watch request queue closed".to_string()))?;
    }
    let rpc_error = |status| BenchError::Rpc {
        what: "Watch".to_string(),
        status,
    };
    let mut responses = WatchClient::new(channel)
        .watch(ReceiverStream::new(queue))
        .await
        .map_err(rpc_error)?
        .into_inner();
    let mut created = 0;
    while created < flags.watchers_per_stream {
        match responses.message().await.map_err(rpc_error)? {
            Some(response) if response.canceled => {
                return Err(BenchError::Other(format!(
                    "watch refused: {}",
                    response.cancel_reason
                )));
            }
            Some(response) if response.created => created += 1,
            Some(_) => {}
            None => return Err(BenchError::Other("watch stream ended early".to_string())),
        }
    }
    Ok(Stream {
        requests,
        responses,
    })
}

/// Receives the stream's PUT events until `expected` have come or the stream ends.
async fn receive(mut stream: Stream, expected: usize, done: Arc<AtomicU64>) -> Received {
    let mut events = Vec::with_capacity(expected.min(PREALLOCATED_LATENCIES_MAX));
    let mut error = None;
    while events.len() < expected {
        match stream.responses.message().await {
            Ok(Some(response)) => {
                let arrival = Instant::now();
                let before = events.len();
                events.extend(
                    response
                        .events
                        .iter()
                        .filter(|e| e.r#type == EventType::Put as i32)
                        .filter_map(|e| e.kv.as_ref())
                        .map(|kv| (kv.mod_revision, arrival)),
                );
                done.fetch_add((events.len() - before) as u64, Ordering::Relaxed);
            }
            Ok(None) => {
                error = Some("watch stream ended".to_string());
                break;
            }
            Err(status) => {
                error = Some(super::status_text(&status));
                break;
            }
        }
    }
    drop(stream.requests);
    Received { events, error }
}
