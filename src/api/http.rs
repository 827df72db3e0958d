//! The HTTP side of the client port (actix-web): `/health`, `/version`, `/metrics` and
//! the JSON gateway (`/v3/...`, see [`super::gateway`]), as etcd serves them. Anything else is Go's "404 page not found".

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::grpc::maintenance::{CLUSTER_VERSION, SERVER_VERSION};
use crate::server::handle::MemberHandle;

/// How long `/health` waits for a linearizable read before answering unhealthy.
const HEALTH_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers the routes on an actix-web app.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(health))
        .route("/version", web::get().to(version))
        .route("/metrics", web::get().to(metrics))
        .configure(super::gateway::configure)
        .default_service(web::to(not_found));
}

/// etcd 3.4's `/health`: healthy when a leader exists and a linearizable read succeeds.
async fn health(member: web::Data<MemberHandle>) -> HttpResponse {
    let has_leader = !member.status().leader.is_none();
    let healthy = has_leader
        && tokio::time::timeout(HEALTH_READ_TIMEOUT, member.linearizable_barrier())
            .await
            .is_ok_and(|r| r.is_ok());
    let (status, body) = if healthy {
        (StatusCode::OK, r#"{"health":"true"}"#)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, r#"{"health":"false"}"#)
    };
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

async fn version() -> HttpResponse {
    // etcd's field order (a JSON map would sort the keys).
    let body = format!(r#"{{"etcdserver":"{SERVER_VERSION}","etcdcluster":"{CLUSTER_VERSION}"}}"#);
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

async fn metrics(member: web::Data<MemberHandle>) -> HttpResponse {
    member
        .metrics
        .proposals_applied
        .set(member.applied().index.0 as i64);
    let (on_disk, _) = member.db_size().await;
    member.metrics.db_total_size.set(on_disk as i64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(member.metrics.render())
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("404 page not found\n")
}

/// Dev mode's faults on demand, on every member's client port: isolate a member from
/// its peers (`POST /etcd-rs/dev/isolate/{name}`) and heal every link
/// (`POST /etcd-rs/dev/heal`), so a developer can watch failover and catch-up happen.
#[derive(Clone)]
pub struct DevControl {
    /// The in-process network of the dev cluster.
    pub network: crate::server::transport::InProcessNetwork,
    /// Member name → member id.
    pub members: std::sync::Arc<std::collections::HashMap<String, u64>>,
}

/// Registers the dev routes (before [`configure`], whose default answers 404).
pub fn configure_dev(config: &mut web::ServiceConfig) {
    config
        .route("/etcd-rs/dev/isolate/{name}", web::post().to(dev_isolate))
        .route("/etcd-rs/dev/heal", web::post().to(dev_heal));
}

async fn dev_isolate(control: web::Data<DevControl>, name: web::Path<String>) -> HttpResponse {
    match control.members.get(name.as_str()) {
        Some(&id) => {
            control.network.isolate(crate::raft::NodeId(id));
            HttpResponse::Ok().body(format!("isolated {name}\n"))
        }
        None => HttpResponse::NotFound().body(format!("no member named {name}\n")),
    }
}

async fn dev_heal(control: web::Data<DevControl>) -> HttpResponse {
    control.network.heal();
    HttpResponse::Ok().body("healed every link\n")
}
