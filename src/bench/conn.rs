//! Connections: `--conns` gRPC channels (one HTTP/2 connection each) opened round-robin
//! over the endpoints, as etcd's tool opens them; clients share them round-robin.

use tonic::transport::{Channel, Endpoint};

use super::BenchError;
use super::flags::Global;
use crate::pb::etcdserverpb::StatusRequest;
use crate::pb::etcdserverpb::maintenance_client::MaintenanceClient;

/// `host:port` or `http://host:port` as a URL tonic takes.
fn url(endpoint: &str) -> Result<String, BenchError> {
    if endpoint.starts_with("https://") || endpoint.starts_with("unixs://") {
        return Err(BenchError::Usage(format!(
            "{endpoint}: TLS endpoints are not supported by etcd-rs bench"
        )));
    }
    Ok(if endpoint.starts_with("http://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    })
}

/// Opens one connection to `endpoint`.
pub async fn connect(endpoint: &str, global: &Global) -> Result<Channel, BenchError> {
    let connect_error = |source| BenchError::Connect {
        endpoint: endpoint.to_string(),
        source,
    };
    Endpoint::from_shared(url(endpoint)?)
        .map_err(connect_error)?
        .connect_timeout(global.dial_timeout)
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(connect_error)
}

/// The endpoints the load goes to: all of `--endpoints`, or with `--target-leader` the one
/// whose member is the leader according to its own `Maintenance.Status`.
pub async fn endpoints(global: &Global) -> Result<Vec<String>, BenchError> {
    if !global.target_leader {
        return Ok(global.endpoints.clone());
    }
    let mut answers = Vec::new();
    for endpoint in &global.endpoints {
        let channel = connect(endpoint, global).await?;
        let status = MaintenanceClient::new(channel)
            .status(StatusRequest {})
            .await
            .map_err(|status| BenchError::Rpc {
                what: format!("Maintenance.Status of {endpoint}"),
                status,
            })?
            .into_inner();
        let member_id = status.header.map_or(0, |h| h.member_id);
        if member_id != 0 && member_id == status.leader {
            return Ok(vec![endpoint.clone()]);
        }
        answers.push(format!("{endpoint} (leader {:x})", status.leader));
    }
    Err(BenchError::NoLeader(answers.join(", ")))
}

/// `count` connections, round-robin over `endpoints`.
pub async fn open(
    endpoints: &[String],
    count: usize,
    global: &Global,
) -> Result<Vec<Channel>, BenchError> {
    let mut channels = Vec::with_capacity(count);
    for i in 0..count {
        channels.push(connect(&endpoints[i % endpoints.len()], global).await?);
    }
    Ok(channels)
}
