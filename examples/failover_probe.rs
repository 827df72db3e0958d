//! Kill-leader → first successful write, one trial: connects to the surviving members,
//! checks a put works through each, SIGKILLs the leader's process (T0), then starts a put
//! every `interval_ms`, round-robin over the survivors, each with its own `timeout_ms`,
//! until one succeeds (T1). Prints one JSON object with T1 - T0 in milliseconds.
//! Attempts overlap, so the resolution is `interval_ms` (plus the put's own latency), not
//! the per-request timeout. Used by `scripts/failover-vs-etcd.sh` for etcd-rs and the real
//! etcd alike.
//!
//! usage: cargo run --release --example failover_probe -- LEADER_PID ENDPOINT,ENDPOINT
//!        [TIMEOUT_MS] [INTERVAL_MS] [GIVE_UP_MS]

use std::time::{Duration, Instant};

use etcd_client::Client;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

/// Why an attempt did not succeed, counted per kind in the output.
#[derive(Debug)]
enum Failure {
    Timeout,
    Error(String),
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: failover_probe LEADER_PID ENDPOINT,ENDPOINT [TIMEOUT_MS] [INTERVAL_MS] [GIVE_UP_MS]";
    let pid = args.first().ok_or(usage)?.clone();
    let endpoints: Vec<String> = args
        .get(1)
        .ok_or(usage)?
        .split(',')
        .map(String::from)
        .collect();
    let timeout_ms: u64 = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let interval_ms: u64 = args.get(3).map_or(Ok(5), |s| s.parse())?;
    let give_up_ms: u64 = args.get(4).map_or(Ok(30_000), |s| s.parse())?;
    let timeout = Duration::from_millis(timeout_ms);

    // One connection per survivor, opened and checked before the kill so that connecting is
    // not part of the measured interval.
    let mut clients = Vec::new();
    for endpoint in &endpoints {
        let mut client = Client::connect([endpoint.as_str()], None).await?;
        client.put("failover-probe", "before", None).await?;
        clients.push(client);
    }

    let t0 = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()?;
    let kill_ms = t0.elapsed().as_secs_f64() * 1e3;
    if !killed.success() {
        return Err(format!("kill -9 {pid} failed").into());
    }

    // Every attempt reports once; at most timeout/interval + 1 are in flight at a time.
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Instant, Failure>>();
    let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let give_up = t0 + Duration::from_millis(give_up_ms);
    let (mut attempts, mut timeouts, mut errors) = (0u64, 0u64, 0u64);
    let mut first_error: Option<String> = None;
    let t1 = loop {
        tokio::select! {
            _ = ticker.tick() => {
                if Instant::now() > give_up {
                    break None;
                }
                let mut client = clients[attempts as usize % clients.len()].clone();
                let tx = tx.clone();
                let value = format!("attempt {attempts}");
                tokio::spawn(async move {
                    let outcome = match tokio::time::timeout(timeout, client.put("failover-probe", value, None)).await {
                        Ok(Ok(_)) => Ok(Instant::now()),
                        Ok(Err(e)) => Err(Failure::Error(e.to_string())),
                        Err(_) => Err(Failure::Timeout),
                    };
                    // The receiver is gone once a put has succeeded: later outcomes don't matter.
                    let _ = tx.send(outcome);
                });
                attempts += 1;
            }
            Some(outcome) = rx.recv() => match outcome {
                Ok(at) => break Some(at),
                Err(Failure::Timeout) => timeouts += 1,
                Err(Failure::Error(e)) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            },
        }
    };
    let first_error = serde_json::to_string(&first_error)?;
    match t1 {
        Some(t1) => {
            println!(
                "{{\"failover_ms\":{:.3},\"kill_ms\":{kill_ms:.3},\"attempts\":{attempts},\"timeouts\":{timeouts},\"errors\":{errors},\"first_error\":{first_error}}}",
                (t1 - t0).as_secs_f64() * 1e3
            );
            Ok(())
        }
        None => {
            println!(
                "{{\"failover_ms\":null,\"kill_ms\":{kill_ms:.3},\"attempts\":{attempts},\"timeouts\":{timeouts},\"errors\":{errors},\"first_error\":{first_error}}}"
            );
            Err(format!("no put succeeded within {give_up_ms} ms of the kill").into())
        }
    }
}
