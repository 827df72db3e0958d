//! The HTTP side of the client port (actix-web): `/health`, `/version`, `/metrics` and
//! the JSON gateway (`/v3/...`, see [`super::gateway`]), as etcd serves them. Anything else is Go's "404 page not found".

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::grpc::maintenance::{CLUSTER_VERSION, SERVER_VERSION};
use crate::server::handle::MemberHandle;

/// How long `/health` waits for a linearizable read before answering unhealthy.
const HEALTH_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers the routes of a --listen-metrics-urls server: `/metrics` and `/health`, as
/// etcd serves there; anything else is 404.
pub fn configure_metrics(config: &mut web::ServiceConfig) {
    config
        .route("/metrics", web::get().to(metrics))
        .route("/health", web::get().to(health))
        .default_service(web::to(not_found));
}

/// Registers the routes on an actix-web app; the JSON gateway's only with `gateway`
/// (`--enable-grpc-gateway`: without it etcd answers its paths Go's 404 too).
pub fn configure(config: &mut web::ServiceConfig, gateway: bool) {
    config
        .route("/health", web::get().to(health))
        .route("/version", web::get().to(version))
        .route("/metrics", web::get().to(metrics));
    if gateway {
        config.configure(super::gateway::configure);
    }
    config.default_service(web::to(not_found));
}

/// etcd 3.4's `/health`: healthy when a leader exists, this member has published its
/// attributes (etcd serves clients only then) and a linearizable read succeeds.
async fn health(member: web::Data<MemberHandle>) -> HttpResponse {
    // etcd serves clients once the member published its attributes through Raft.
    let has_leader = !member.status().leader.is_none() && member.is_published();
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
    // The gauges read from the member's state rather than set as it changes.
    let applied = member.applied().index.0;
    member.metrics.proposals_applied.set(applied as i64);
    // Both gauges are set here only, from one reading each, applied first: the raft
    // status is published after each Ready, the applied index after each batch, and
    // either may be the fresher. What is applied is committed, so committed is at least
    // applied (committed minus applied, a dashboard panel, never goes below zero).
    let committed = member.status().commit.0.max(applied);
    member.metrics.proposals_committed.set(committed as i64);
    member
        .metrics
        .applier_lag
        .set(committed.saturating_sub(applied) as i64);
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

/// Dev mode's faults on demand, on every member's client port, so a developer can
/// watch failover and catch-up happen:
/// - `POST /etcd-rs/dev/stop/{name}`: the member stops as if its process died (its
///   client port closes); `POST /etcd-rs/dev/start/{name}` restarts it on its data;
/// - `POST /etcd-rs/dev/isolate/{name}`: cut every link to and from the member;
/// - `POST /etcd-rs/dev/cut/{from}/{to}`: cut one direction of one link;
/// - `POST /etcd-rs/dev/heal`: heal every link.
#[derive(Clone)]
pub struct DevControl {
    /// The in-process network of the dev cluster.
    pub network: crate::server::transport::InProcessNetwork,
    /// The members, to stop and start.
    pub members: std::sync::Arc<dyn DevFaults>,
}

/// Why a dev fault was not carried out.
#[derive(Debug)]
pub enum DevRefusal {
    /// No member has that name (404).
    NoMember(String),
    /// Not now, and not by retrying: e.g. the member is stopped already (409).
    Refused(String),
    /// Not yet: the member's previous run still holds its ports or store; try again.
    Busy(String),
}

/// What dev mode's process does for [`DevControl`].
pub trait DevFaults: Send + Sync {
    /// The id of the member named `name`.
    fn id(&self, name: &str) -> Option<u64>;
    /// Stops member `name`: what happened, or why not.
    fn stop(&self, name: &str) -> Result<String, DevRefusal>;
    /// One attempt to start member `name` again (MUST run on the actix System): what
    /// happened, or why not.
    fn start(&self, name: &str) -> Result<String, DevRefusal>;
}

/// Attempts to start a stopped member, a tenth of a second apart.
const DEV_START_ATTEMPTS: usize = 50;

/// Registers the dev routes (before [`configure`], whose default answers 404).
pub fn configure_dev(config: &mut web::ServiceConfig) {
    config
        .route("/etcd-rs/dev/stop/{name}", web::post().to(dev_stop))
        .route("/etcd-rs/dev/start/{name}", web::post().to(dev_start))
        .route("/etcd-rs/dev/isolate/{name}", web::post().to(dev_isolate))
        .route("/etcd-rs/dev/cut/{from}/{to}", web::post().to(dev_cut))
        .route("/etcd-rs/dev/heal", web::post().to(dev_heal));
}

fn dev_answer(result: Result<String, DevRefusal>) -> HttpResponse {
    match result {
        Ok(done) => HttpResponse::Ok().body(format!("{done}\n")),
        Err(DevRefusal::NoMember(name)) => {
            HttpResponse::NotFound().body(format!("no member named {name}\n"))
        }
        Err(DevRefusal::Refused(why) | DevRefusal::Busy(why)) => {
            HttpResponse::Conflict().body(format!("{why}\n"))
        }
    }
}

fn member_id(control: &DevControl, name: &str) -> Result<crate::raft::NodeId, DevRefusal> {
    control
        .members
        .id(name)
        .map(crate::raft::NodeId)
        .ok_or_else(|| DevRefusal::NoMember(name.to_string()))
}

async fn dev_stop(control: web::Data<DevControl>, name: web::Path<String>) -> HttpResponse {
    let members = control.members.clone();
    let result = web::block(move || members.stop(&name)).await;
    dev_answer(result.unwrap_or_else(|e| Err(DevRefusal::Refused(e.to_string()))))
}

async fn dev_start(control: web::Data<DevControl>, name: web::Path<String>) -> HttpResponse {
    // Starting a member starts actors: it runs here, on the actix System's thread,
    // waiting between attempts without blocking it.
    let mut result = control.members.start(&name);
    for _ in 1..DEV_START_ATTEMPTS {
        if !matches!(result, Err(DevRefusal::Busy(_))) {
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(100)).await;
        result = control.members.start(&name);
    }
    dev_answer(result)
}

async fn dev_isolate(control: web::Data<DevControl>, name: web::Path<String>) -> HttpResponse {
    dev_answer(member_id(&control, &name).map(|id| {
        control.network.isolate(id);
        format!("isolated {name}")
    }))
}

async fn dev_cut(
    control: web::Data<DevControl>,
    link: web::Path<(String, String)>,
) -> HttpResponse {
    let (from, to) = link.into_inner();
    let ids = member_id(&control, &from).and_then(|f| Ok((f, member_id(&control, &to)?)));
    dev_answer(ids.map(|(f, t)| {
        control.network.cut_link(f, t);
        format!("cut {from} -> {to}")
    }))
}

async fn dev_heal(control: web::Data<DevControl>) -> HttpResponse {
    control.network.heal();
    HttpResponse::Ok().body("healed every link\n")
}
