//! The command line as an etcd user meets it: etcd's flags, `ETCD_*` environment
//! variables and `--config-file` start a member; refused and unknown flags stop it with
//! a clear message; the grpc.health.v1 service answers SERVING.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, http_get, server_bin};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("etcd-rs-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn wait_healthy(port: u16, child: &mut Child) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    loop {
        if http_get(addr, "/health").is_ok_and(|r| r.contains(r#"{"health":"true"}"#)) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the member exited with {status} before becoming healthy");
        }
        assert!(
            started.elapsed() < support::START_TIMEOUT,
            "member never healthy on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs etcd-rs to completion (for refusals), returning (exit code, stderr).
fn refused(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(server_bin())
        .args(args)
        .envs(env.iter().copied())
        .env_remove("ETCD_TEST_BIN")
        .output()
        .expect("etcd-rs runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_member_starts_from_etcd_environment_variables() {
    let (client, peer) = (free_port(), free_port());
    let dir = temp_dir("env");
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let cluster = format!("env1={peer_url}");
    let mut child = Command::new(server_bin())
        .env("ETCD_NAME", "env1")
        .env("ETCD_DATA_DIR", dir.join("data"))
        .env("ETCD_LISTEN_CLIENT_URLS", &client_url)
        .env("ETCD_ADVERTISE_CLIENT_URLS", &client_url)
        .env("ETCD_LISTEN_PEER_URLS", &peer_url)
        .env("ETCD_INITIAL_ADVERTISE_PEER_URLS", &peer_url)
        .env("ETCD_INITIAL_CLUSTER", &cluster)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd-rs starts");
    wait_healthy(client, &mut child);
    let _running = Running(child);
    let list = support::etcdctl_at(&client_url, &["member", "list"], b"");
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains(", started, env1, "), "member list: {text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_member_starts_from_a_yaml_config_file_with_etcds_keys() {
    let (client, peer) = (free_port(), free_port());
    let dir = temp_dir("yaml");
    let file = dir.join("etcd.yaml");
    std::fs::write(
        &file,
        format!(
            "name: fromfile\n\
             data-dir: {data}\n\
             listen-client-urls: http://127.0.0.1:{client}\n\
             advertise-client-urls: http://127.0.0.1:{client}\n\
             listen-peer-urls: http://127.0.0.1:{peer}\n\
             initial-advertise-peer-urls: http://127.0.0.1:{peer}\n\
             initial-cluster: fromfile=http://127.0.0.1:{peer}\n\
             max-txn-ops: 3\n",
            data = dir.join("data").display()
        ),
    )
    .expect("write config");
    let mut child = Command::new(server_bin())
        .arg("--config-file")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd-rs starts");
    wait_healthy(client, &mut child);
    let _running = Running(child);
    let url = format!("http://127.0.0.1:{client}");
    // max-txn-ops from the file is in force: 4 puts in one txn are too many.
    let txn = support::etcdctl_at(
        &url,
        &["txn"],
        b"\n\nput a 1\nput b 2\nput c 3\nput d 4\n\n\n",
    );
    assert!(
        String::from_utf8_lossy(&txn.stderr).contains("too many operations in txn request"),
        "txn over max-txn-ops: {}",
        String::from_utf8_lossy(&txn.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn security_flags_refuse_to_start_and_unknown_flags_are_errors() {
    // (TLS flags are implemented now: discovery is still refused.)
    let (code, stderr) = refused(&["--discovery", "https://discovery.example/x"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--discovery") && stderr.contains("not implemented yet"),
        "{stderr}"
    );
    let (code, stderr) = refused(&["--no-such-flag"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("flag provided but not defined: -no-such-flag"),
        "{stderr}"
    );
    let (code, stderr) = refused(&["--heartbeat-interval=abc"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("invalid value \"abc\" for flag -heartbeat-interval: parse error"),
        "{stderr}"
    );
}

#[test]
fn the_grpc_health_service_answers_serving() {
    let member = support::Member::start(&[]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(url)
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let response = client
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health check");
        assert_eq!(
            response.into_inner().status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    });
}
