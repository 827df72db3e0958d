//! Lease keep-alive throughput: `clients` concurrent clients, each with its own lease
//! and keep-alive stream, renewing in a closed loop for `seconds`. Prints keep-alives/s.
//! Used by `scripts/bench-vs-etcd.sh` against etcd-rs and the real etcd alike.
//!
//! usage: cargo run --release --example keepalive_bench -- ENDPOINT [CLIENTS] [SECONDS]

use std::time::{Duration, Instant};

use etcd_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let endpoint = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:2379".into());
    let clients: usize = args.get(1).map_or(Ok(10), |s| s.parse())?;
    let seconds: u64 = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect([endpoint], None).await?;
            let lease = client.lease_grant(60, None).await?.id();
            let (mut keeper, mut stream) = client.lease_keep_alive(lease).await?;
            let mut count = 0u64;
            while Instant::now() < deadline {
                keeper.keep_alive().await?;
                match stream.message().await? {
                    Some(response) if response.ttl() > 0 => count += 1,
                    other => return Err(format!("keep-alive failed: {other:?}").into()),
                }
            }
            Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(count)
        }));
    }
    let started = Instant::now();
    let mut total = 0;
    for task in tasks {
        total += task.await?.map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{{\"clients\":{clients},\"keepalives\":{total},\"seconds\":{elapsed:.3},\"rps\":{:.1}}}",
        total as f64 / elapsed
    );
    Ok(())
}
