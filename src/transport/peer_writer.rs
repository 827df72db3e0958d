//! The writer task of one peer: connect and say hello, write batches of queued
//! messages, ping the peer every [`PING_INTERVAL`] and time its pongs, notice a broken
//! connection, back off and reconnect. See [`super::network`] for the life of a message.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;

use super::codec::{
    Frame, Hello, MessageFrames, decode_frame, encode_hello, encode_ping, message_body_len,
};
use super::listener::read_frame;
use super::network::{
    CONNECT_TIMEOUT, FLUSH_BYTES, PING_INTERVAL, PeerReports, PeerShared, PeerStream, PeerTarget,
    RECONNECT_BACKOFF_MAX, RECONNECT_BACKOFF_MIN, TransportConfig, WRITE_BATCH_MESSAGES,
    WRITE_TIMEOUT, dial, queued_size,
};
use crate::raft::{Message, NodeId};

/// Why a connection attempt failed.
enum ConnectError {
    /// The peer refused our hello, and said why.
    Refused(String),
    /// Anything else: unreachable, timed out, not an etcd-rs peer.
    Failed(String),
}

/// How a connection ended.
enum Ended {
    /// The transport dropped this peer: stop.
    Stopped,
    /// The connection broke: reconnect.
    Broken(String),
}

/// The task that owns one peer's queue and connection.
pub(super) struct PeerWriter {
    pub(super) config: TransportConfig,
    pub(super) to: NodeId,
    /// `etcd_network_peer_sent_bytes_total` for this peer.
    pub(super) sent_bytes: prometheus::IntCounter,
    /// `etcd_network_peer_round_trip_time_seconds` for this peer.
    pub(super) round_trip: prometheus::Histogram,
    /// Each peer URL, tried in turn.
    pub(super) addresses: Vec<PeerTarget>,
    /// Dials the `https://` ones.
    pub(super) tls: Option<tokio_rustls::TlsConnector>,
    pub(super) queue: mpsc::Receiver<Message>,
    pub(super) shared: Arc<PeerShared>,
    pub(super) reports: PeerReports,
    /// The last failure logged, so a peer that stays down is logged once, not per retry.
    pub(super) last_logged: Option<String>,
}

impl PeerWriter {
    /// Connects, writes, reconnects, until the transport drops the peer.
    pub(super) async fn run(mut self) {
        let mut backoff = RECONNECT_BACKOFF_MIN;
        let mut attempt = 0;
        loop {
            let target = self.addresses[attempt % self.addresses.len()].clone();
            let address = target.address.clone();
            attempt += 1;
            match self.connect(&target).await {
                Ok(stream) => {
                    backoff = RECONNECT_BACKOFF_MIN;
                    self.on_connected(&address);
                    let ended = self.pump(stream).await;
                    self.shared.connected.store(false, Ordering::Relaxed);
                    match ended {
                        Ended::Stopped => return,
                        Ended::Broken(why) => {
                            self.on_failure(&address, "lost the connection to", why);
                        }
                    }
                }
                Err(ConnectError::Refused(why)) => {
                    PeerShared::count(&self.shared.refusals, 1);
                    self.on_failure(&address, "refused by", why);
                }
                Err(ConnectError::Failed(why)) => {
                    self.on_failure(&address, "cannot connect to", why)
                }
            }
            if !self.drain_for(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
        }
    }

    /// Connects and exchanges hello and welcome, within [`CONNECT_TIMEOUT`].
    async fn connect(&self, target: &PeerTarget) -> Result<PeerStream, ConnectError> {
        let attempt = async {
            let mut stream = dial(target, self.tls.as_ref())
                .await
                .map_err(ConnectError::Failed)?;
            let mut hello = Vec::new();
            encode_hello(
                &Hello {
                    cluster_id: self.config.cluster_id,
                    from: self.config.local_id,
                    to: self.to,
                },
                &mut hello,
            );
            stream
                .write_all(&hello)
                .await
                .map_err(|e| ConnectError::Failed(e.to_string()))?;
            match read_frame(&mut stream).await {
                Ok(Some(Frame::Welcome)) => Ok(stream),
                Ok(Some(Frame::Refuse(why))) => Err(ConnectError::Refused(why)),
                Ok(Some(_)) => Err(ConnectError::Failed("unexpected answer to hello".into())),
                Ok(None) => Err(ConnectError::Failed("closed during the hello".into())),
                Err(e) => Err(ConnectError::Failed(e.to_string())),
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| Err(ConnectError::Failed("timed out".into())))
    }

    fn on_connected(&mut self, address: &str) {
        PeerShared::count(&self.shared.connects, 1);
        self.shared.connected.store(true, Ordering::Relaxed);
        self.reports.set_unreachable(self.to, false, &self.shared);
        if self.last_logged.take().is_some() {
            eprintln!("etcd-rs: connected to peer {} at {address}", self.to);
        }
    }

    fn on_failure(&mut self, address: &str, what: &str, why: String) {
        self.reports.set_unreachable(self.to, true, &self.shared);
        let line = format!("{what} peer {} at {address}: {why}", self.to);
        if self.last_logged.as_deref() != Some(line.as_str()) {
            eprintln!("etcd-rs: {line}");
            self.last_logged = Some(line);
        }
        *self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
    }

    /// Waits `pause`, dropping what is queued meanwhile; false if the peer was dropped.
    async fn drain_for(&mut self, pause: Duration) -> bool {
        let deadline = tokio::time::sleep(pause);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return true,
                message = self.queue.recv() => match message {
                    Some(message) => {
                        self.took(&message);
                        self.lost(&[message]);
                    }
                    None => return false,
                },
            }
        }
    }

    /// Refunds a message taken from the queue.
    fn took(&self, message: &Message) {
        self.shared
            .queued_bytes
            .fetch_sub(queued_size(message), Ordering::Relaxed);
        self.shared.queued_messages.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts messages lost to a down connection; fails their snapshots.
    fn lost(&self, messages: &[Message]) {
        PeerShared::count(&self.shared.dropped_disconnected, messages.len() as u64);
        for message in messages.iter().filter(|m| m.snapshot.is_some()) {
            self.reports.report_snapshot(message.to, false);
        }
    }

    /// Writes queued messages, and a ping every [`PING_INTERVAL`], until the transport
    /// drops the peer or the connection breaks. The read half is watched for pongs, and
    /// so that a peer that closes or dies is noticed even when there is nothing to send.
    async fn pump(&mut self, stream: PeerStream) -> Ended {
        let (mut read, mut write) = tokio::io::split(stream);
        let mut batch = Vec::with_capacity(WRITE_BATCH_MESSAGES);
        let mut buf = Vec::with_capacity(FLUSH_BYTES);
        // What the peer sent back: pongs, possibly split across reads.
        let mut answers = Vec::new();
        // The pings' clock: only this writer reads it back.
        let clock = Instant::now();
        let first_ping = tokio::time::Instant::now() + PING_INTERVAL;
        let mut pings = tokio::time::interval_at(first_ping, PING_INTERVAL);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                taken = self.queue.recv_many(&mut batch, WRITE_BATCH_MESSAGES) => {
                    if taken == 0 {
                        return Ended::Stopped;
                    }
                }
                _ = pings.tick() => {
                    buf.clear();
                    encode_ping(clock.elapsed().as_micros() as u64, &mut buf);
                    if let Err(why) = self.flush(&mut write, &mut buf).await {
                        return Ended::Broken(why);
                    }
                    continue;
                }
                read = read.read_buf(&mut answers) => {
                    let taken = match read {
                        Ok(0) => Err("closed by the peer".into()),
                        Ok(_) => self.take_pongs(&mut answers, clock),
                        Err(e) => Err(e.to_string()),
                    };
                    match taken {
                        Ok(()) => continue,
                        Err(why) => return Ended::Broken(why),
                    }
                }
            }
            let mut sendable = Vec::with_capacity(batch.len());
            for message in batch.drain(..) {
                self.took(&message);
                if self.fits_limit(&message) {
                    sendable.push(message);
                }
            }
            if let Err(why) = self.write_batch(&sendable, &mut write, &mut buf).await {
                self.lost(&sendable);
                return Ended::Broken(why);
            }
            PeerShared::count(&self.shared.sent_messages, sendable.len() as u64);
            for message in sendable.iter().filter(|m| m.snapshot.is_some()) {
                self.reports.report_snapshot(message.to, true);
            }
        }
    }

    /// Times each whole pong in `answers` against `clock` and removes it; anything else
    /// than a pong breaks the connection.
    fn take_pongs(&self, answers: &mut Vec<u8>, clock: Instant) -> Result<(), String> {
        loop {
            match decode_frame(answers).map_err(|e| e.to_string())? {
                None => return Ok(()),
                Some((Frame::Pong(sent_at), used)) => {
                    let now = clock.elapsed().as_micros() as u64;
                    let micros = now.saturating_sub(sent_at);
                    self.round_trip.observe(micros as f64 / 1e6);
                    answers.drain(..used);
                }
                Some(_) => return Err("the peer sent unexpected data".into()),
            }
        }
    }

    /// Whether the message is within `max_message_bytes`; if not, it is dropped here,
    /// logged and counted (the peer would refuse it).
    fn fits_limit(&self, message: &Message) -> bool {
        let len = message_body_len(message) as u64;
        if len <= self.config.max_message_bytes {
            return true;
        }
        eprintln!(
            "etcd-rs: dropped a {:?} message of {len} bytes to peer {}: over the limit of {} bytes",
            message.msg_type, self.to, self.config.max_message_bytes
        );
        PeerShared::count(&self.shared.dropped_too_large, 1);
        if message.snapshot.is_some() {
            self.reports.report_snapshot(message.to, false);
        }
        false
    }

    /// Encodes and writes one batch, flushing every [`FLUSH_BYTES`] so that a large
    /// snapshot is never framed whole in memory.
    async fn write_batch(
        &self,
        batch: &[Message],
        write: &mut WriteHalf<PeerStream>,
        buf: &mut Vec<u8>,
    ) -> Result<(), String> {
        buf.clear();
        for message in batch {
            let mut frames = MessageFrames::new(message);
            while frames.push_next(buf) {
                if buf.len() >= FLUSH_BYTES {
                    self.flush(write, buf).await?;
                }
            }
        }
        if !buf.is_empty() {
            self.flush(write, buf).await?;
        }
        Ok(())
    }

    async fn flush(
        &self,
        write: &mut WriteHalf<PeerStream>,
        buf: &mut Vec<u8>,
    ) -> Result<(), String> {
        match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(buf)).await {
            Ok(Ok(())) => {
                PeerShared::count(&self.shared.sent_bytes, buf.len() as u64);
                self.sent_bytes.inc_by(buf.len() as u64);
                buf.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("a write blocked for {WRITE_TIMEOUT:?}")),
        }
    }
}
