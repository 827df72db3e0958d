//! Watch, as etcd's clients use it: `etcdctl watch` prints what etcd 3.4 prints (history
//! replay with --rev and --prev-kv, prefixes, compaction), and with the `etcd-client`
//! crate: ordering across a compaction, 1,000 watchers on one key under a steady writer,
//! and a stream that stops reading without holding the others back.

mod support;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, WatchOptions};
use support::Member;
use support::golden::normalize;

/// Runs `etcdctl watch ...` until it has printed `lines` lines (or exits), then stops it;
/// returns (stdout, stderr).
fn watch_output(member: &Member, args: &[&str], lines: usize) -> (String, String) {
    let mut child = Command::new(support::etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(member.client_url())
        .arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("etcdctl runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let mut byte = [0u8; 1];
        while text.lines().count() < lines || !text.ends_with('\n') {
            match stdout.read(&mut byte) {
                Ok(1) => text.push(byte[0] as char),
                _ => break,
            }
        }
        text
    });
    let started = Instant::now();
    while !reader.is_finished() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let _ = child.wait();
    (reader.join().unwrap_or_default(), stderr)
}

fn put(member: &Member, key: &str, value: &str) {
    let out = member.etcdctl(&["put", key, value]);
    assert!(out.status.success(), "put {key}: {out:?}");
}

// Captured from etcd 3.4.23 on this machine: put foo a, put foo b, del foo, put fx y.
const REPLAY_PREV_KV: &str = "PUT\nfoo\na\nPUT\nfoo\na\nfoo\nb\nDELETE\nfoo\nb\nfoo\n\n";
const REPLAY_PREFIX_JSON: &str = "{\"Header\":{\"cluster_id\":<cluster_id>,\"member_id\":<member_id>,\"revision\":5,\"raft_term\":<raft_term>},\"Events\":[{\"kv\":{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\"value\":\"YQ==\"}},{\"kv\":{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":3,\"version\":2,\"value\":\"Yg==\"}},{\"type\":1,\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":4}},{\"kv\":{\"key\":\"Zng=\",\"create_revision\":5,\"mod_revision\":5,\"version\":1,\"value\":\"eQ==\"}}],\"CompactRevision\":0,\"Canceled\":false,\"Created\":false}\n";
const COMPACTED_STDERR: &str = "watch was canceled (etcdserver: mvcc: required revision has been compacted)\nError: watch is canceled by the server\n";

#[test]
fn etcdctl_watch_replays_history_and_reports_compaction_as_etcd_does() {
    let member = Member::start(&[]);
    put(&member, "foo", "a");
    put(&member, "foo", "b");
    assert!(member.etcdctl(&["del", "foo"]).status.success());
    put(&member, "fx", "y");

    let (out, _) = watch_output(&member, &["foo", "--rev", "1", "--prev-kv"], 13);
    assert_eq!(out, REPLAY_PREV_KV);

    let (out, _) = watch_output(&member, &["--prefix", "f", "--rev", "1", "-w", "json"], 1);
    assert_eq!(normalize(&out), REPLAY_PREFIX_JSON);

    let compact = member.etcdctl(&["compaction", "4"]);
    assert_eq!(
        String::from_utf8_lossy(&compact.stdout),
        "compacted revision 4\n"
    );
    let (out, err) = watch_output(&member, &["foo", "--rev", "2"], 1);
    assert_eq!(out, "");
    assert_eq!(err, COMPACTED_STDERR);
}

#[test]
fn events_stay_in_order_without_gaps_across_a_compaction() {
    let member = Member::start(&[]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let mut stream = client
            .watch("k", Some(WatchOptions::new().with_prefix()))
            .await
            .expect("watch");
        let created = stream.message().await.expect("created").expect("response");
        assert!(created.created());
        const WRITES: i64 = 300;
        let mut writer = client.clone();
        let writes = tokio::spawn(async move {
            for i in 0..WRITES {
                let response = writer.put(format!("k{}", i % 7), i.to_string(), None).await;
                let revision = response.expect("put").header().expect("header").revision();
                if i == WRITES / 2 {
                    writer.compact(revision - 10, None).await.expect("compact");
                }
            }
        });
        let mut expected_rev = 2; // the first write of a fresh store
        while expected_rev < 2 + WRITES {
            let response = stream.message().await.expect("stream").expect("response");
            assert!(
                !response.canceled(),
                "a live watcher is never cancelled by compaction"
            );
            for event in response.events() {
                let kv = event.kv().expect("kv");
                assert_eq!(kv.mod_revision(), expected_rev, "no gap, no duplicate");
                assert_eq!(event.event_type(), EventType::Put);
                expected_rev += 1;
            }
        }
        writes.await.expect("writer");

        // A watcher starting below the compaction is told so and cancelled.
        let mut late = client
            .watch(
                "k",
                Some(WatchOptions::new().with_prefix().with_start_revision(2)),
            )
            .await
            .expect("watch");
        let mut saw_compaction = false;
        while let Some(response) = late.message().await.expect("stream") {
            if response.canceled() {
                assert!(response.compact_revision() > 2, "{response:?}");
                saw_compaction = true;
                break;
            }
        }
        assert!(saw_compaction);
    });
}

#[test]
fn a_thousand_watchers_on_one_key_all_see_every_event() {
    const WATCHERS: usize = 1000;
    const CONNECTIONS: usize = 10;
    const WRITES: i64 = 50;
    let member = Member::start(&[]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            clients.push(
                Client::connect([url.as_str()], None)
                    .await
                    .expect("connect"),
            );
        }
        let mut streams = Vec::new();
        for i in 0..WATCHERS {
            let mut stream = clients[i % CONNECTIONS]
                .watch("hot", None)
                .await
                .expect("watch");
            let created = stream.message().await.expect("created").expect("response");
            assert!(created.created());
            streams.push(stream);
        }
        let mut writer = clients[0].clone();
        let mut first_rev = 0;
        for i in 0..WRITES {
            let put = writer.put("hot", i.to_string(), None).await.expect("put");
            if i == 0 {
                first_rev = put.header().expect("header").revision();
            }
        }
        let mut readers = Vec::new();
        for mut stream in streams {
            readers.push(tokio::spawn(async move {
                let mut next = first_rev;
                while next < first_rev + WRITES {
                    let response = stream.message().await.expect("stream").expect("response");
                    for event in response.events() {
                        assert_eq!(event.kv().expect("kv").mod_revision(), next);
                        next += 1;
                    }
                }
            }));
        }
        for reader in readers {
            reader.await.expect("every watcher saw every event");
        }
    });
}

/// A watcher that stops reading must not delay the others; once it reads again it gets
/// every event, in order, caught up from the store. The latencies are printed for the
/// record (never asserted: they depend on the machine).
#[test]
fn a_stream_that_stops_reading_does_not_hold_back_the_others() {
    const WRITES: i64 = 400;
    let member = Member::start(&[]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut stalled_client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let mut stalled = stalled_client.watch("big", None).await.expect("watch");
        assert!(
            stalled
                .message()
                .await
                .expect("created")
                .expect("r")
                .created()
        );
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let mut live = client.watch("big", None).await.expect("watch");
        assert!(live.message().await.expect("created").expect("r").created());

        let value = vec![b'x'; 4 * 1024];
        let mut writer = client.clone();
        let mut worst = Duration::ZERO;
        let mut first_rev = 0;
        for i in 0..WRITES {
            let sent = Instant::now();
            let put = writer.put("big", value.clone(), None).await.expect("put");
            let rev = put.header().expect("header").revision();
            if i == 0 {
                first_rev = rev;
            }
            let response = live.message().await.expect("stream").expect("response");
            assert_eq!(response.events()[0].kv().expect("kv").mod_revision(), rev);
            worst = worst.max(sent.elapsed());
        }
        eprintln!(
            "watch: {WRITES} puts of 4 KiB with a stalled stream beside: worst put-to-event {:?}",
            worst
        );
        // The stalled stream now reads: everything, in order, no gaps.
        let mut next = first_rev;
        while next < first_rev + WRITES {
            let response = stalled.message().await.expect("stream").expect("response");
            for event in response.events() {
                assert_eq!(event.kv().expect("kv").mod_revision(), next);
                next += 1;
            }
        }
    });
}

#[test]
fn a_progress_request_reports_the_current_revision_without_events() {
    let member = Member::start(&[]);
    put(&member, "p", "1");
    put(&member, "q", "2");
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let mut stream = client.watch("p", None).await.expect("watch");
        assert!(
            stream
                .message()
                .await
                .expect("created")
                .expect("r")
                .created()
        );
        stream.request_progress().await.expect("request progress");
        let progress = stream.message().await.expect("stream").expect("response");
        assert!(progress.events().is_empty());
        assert!(!progress.created() && !progress.canceled());
        assert_eq!(progress.header().expect("header").revision(), 3);
    });
}

#[test]
fn a_watch_with_filters_and_an_explicit_id_gets_only_what_it_asked_for() {
    let member = Member::start(&[]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let options = WatchOptions::new()
            .with_prefix()
            .with_watch_id(7)
            .with_filters([etcd_client::WatchFilterType::NoPut]);
        let mut stream = client.watch("f", Some(options)).await.expect("watch");
        let created = stream.message().await.expect("created").expect("r");
        assert!(created.created());
        assert_eq!(created.watch_id(), 7);
        client.put("f1", "x", None).await.expect("put");
        client.delete("f1", None).await.expect("delete");
        let response = stream.message().await.expect("stream").expect("response");
        assert_eq!(response.watch_id(), 7);
        assert_eq!(response.events().len(), 1);
        assert_eq!(response.events()[0].event_type(), EventType::Delete);
    });
}

/// A response larger than --max-request-bytes is split into fragments for a watcher that
/// asked for them; together they carry every event of the revision.
#[test]
fn a_large_revision_reaches_a_fragmenting_watcher_in_several_responses() {
    let member = Member::start(&["--max-request-bytes", "65536"]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let value = vec![b'v'; 8 * 1024];
        for i in 0..30 {
            client
                .put(format!("frag/{i:02}"), value.clone(), None)
                .await
                .expect("put");
        }
        let options = WatchOptions::new()
            .with_prefix()
            .with_prev_key()
            .with_fragment();
        let mut stream = client.watch("frag/", Some(options)).await.expect("watch");
        assert!(
            stream
                .message()
                .await
                .expect("created")
                .expect("r")
                .created()
        );
        let deleted = client
            .delete(
                "frag/",
                Some(etcd_client::DeleteOptions::new().with_prefix()),
            )
            .await
            .expect("delete");
        assert_eq!(deleted.deleted(), 30);
        let (mut events, mut responses) = (0, 0);
        while events < 30 {
            let response = stream.message().await.expect("stream").expect("response");
            responses += 1;
            for event in response.events() {
                assert_eq!(event.event_type(), EventType::Delete);
                assert_eq!(event.prev_kv().expect("prev kv").value().len(), 8 * 1024);
                events += 1;
            }
        }
        assert_eq!(events, 30);
        // etcd 3.4.23 sent these 240 KiB whole in our trials (its sendFragments should
        // split them; we did not find why it does not), so the split is checked only
        // against etcd-rs.
        if support::testing_etcd_rs() {
            assert!(
                responses > 1,
                "240 KiB of events in one response over a 64 KiB limit"
            );
        }
    });
}

#[test]
fn etcdctl_interactive_watch_follows_the_commands_on_stdin() {
    let member = Member::start(&[]);
    let mut child = Command::new(support::etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(member.client_url())
        .args(["watch", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcdctl runs");
    {
        use std::io::Write as _;
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"watch inter\n").expect("write");
        stdin.flush().expect("flush");
    }
    std::thread::sleep(Duration::from_millis(500));
    put(&member, "inter", "active");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with("active\n") {
        match stdout.read(&mut byte) {
            Ok(1) => seen.push(byte[0] as char),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // Captured from etcd 3.4.23 on this machine.
    assert_eq!(seen, "PUT\ninter\nactive\n");
}

#[test]
fn progress_notifications_come_at_the_configured_interval() {
    let member = Member::start(&["--experimental-watch-progress-notify-interval", "1s"]);
    put(&member, "quiet", "1");
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let options = WatchOptions::new().with_progress_notify();
        let mut stream = client.watch("quiet", Some(options)).await.expect("watch");
        assert!(
            stream
                .message()
                .await
                .expect("created")
                .expect("r")
                .created()
        );
        let notice = stream.message().await.expect("stream").expect("response");
        assert!(
            notice.events().is_empty(),
            "a progress notification has no events"
        );
        assert_eq!(notice.header().expect("header").revision(), 2);
    });
}

#[test]
fn a_watch_from_a_future_revision_starts_there() {
    let member = Member::start(&[]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        // A fresh store is at revision 1: start at 4, so puts at 2 and 3 are not seen.
        let options = WatchOptions::new().with_start_revision(4);
        let mut stream = client.watch("future", Some(options)).await.expect("watch");
        assert!(
            stream
                .message()
                .await
                .expect("created")
                .expect("r")
                .created()
        );
        for i in 0..5 {
            client
                .put("future", i.to_string(), None)
                .await
                .expect("put");
        }
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let response = stream.message().await.expect("stream").expect("response");
            for event in response.events() {
                seen.push(event.kv().expect("kv").mod_revision());
            }
        }
        assert_eq!(seen, [4, 5, 6]);
    });
}
