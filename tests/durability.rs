//! No acknowledged write is lost when the member is SIGKILLed mid-write.
//!
//! Each round: writer threads put fresh keys one `etcdctl put` at a time and record every
//! put that exited 0 (acknowledged); once `ACKS_BEFORE_KILL` puts are acknowledged the
//! member is SIGKILLed while the writers are still writing, then restarted on the same
//! data dir and ports, and the writers stop. Every acknowledged key of every round so far must then be there
//! with its value, and no key may be there that no writer tried to put.
//!
//! Run against the real etcd: `ETCD_TEST_BIN=/usr/bin/etcd cargo test --profile ci
//! --test durability`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Member, etcdctl_at};

const ROUNDS: usize = 3;
/// Concurrent writers: more than one so that the kill can land with several writes in
/// flight (and, in etcd-rs, in one group commit).
const WRITERS: usize = 2;
/// Acknowledged puts per round after which the member is killed.
const ACKS_BEFORE_KILL: usize = 40;
/// A writer stops after this many puts even if never told to (a bound, never reached
/// unless the kill never comes).
const PUTS_PER_WRITER_MAX: usize = 2_000;
/// How long a round may take to reach `ACKS_BEFORE_KILL`.
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);

/// What the writers of one round did.
#[derive(Default)]
struct Writes {
    /// Keys whose put was tried, acknowledged or not.
    attempted: BTreeSet<String>,
    /// Keys whose put exited 0, with their values.
    acked: BTreeMap<String, String>,
}

fn key_and_value(round: usize, writer: usize, i: usize) -> (String, String) {
    (
        format!("key-{round}-{writer}-{i:05}"),
        format!("value-{round}-{writer}-{i}"),
    )
}

/// Runs one round: writers until `ACKS_BEFORE_KILL` acks, SIGKILL, restart on the same
/// data dir, writers stopped.
fn write_kill_restart(member: &mut Member, round: usize) -> Writes {
    let writes = Arc::new(Mutex::new(Writes::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let endpoint = member.client_url();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (writes, stop, endpoint) = (writes.clone(), stop.clone(), endpoint.clone());
            std::thread::spawn(move || {
                for i in 0..PUTS_PER_WRITER_MAX {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (key, value) = key_and_value(round, writer, i);
                    writes.lock().unwrap().attempted.insert(key.clone());
                    let output = etcdctl_at(&endpoint, &["put", &key, &value], b"");
                    if output.status.success() {
                        writes.lock().unwrap().acked.insert(key, value);
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + ROUND_TIMEOUT;
    loop {
        let acked = writes.lock().unwrap().acked.len();
        if acked >= ACKS_BEFORE_KILL {
            break;
        }
        if Instant::now() >= deadline {
            stop.store(true, Ordering::Relaxed);
            panic!(
                "round {round}: only {acked} of {ACKS_BEFORE_KILL} puts acknowledged within \
                 {ROUND_TIMEOUT:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGKILL with the writers still writing: some puts are in flight.
    member.kill();
    stop.store(true, Ordering::Relaxed);
    // Restarted before the writers are joined: a put begun after the kill finds no
    // server and etcdctl retries it until its command timeout, so it may still be
    // acknowledged by the restarted member (and then must be there too).
    member.restart();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    Arc::try_unwrap(writes)
        .ok()
        .expect("writers joined")
        .into_inner()
        .unwrap()
}

/// Every `key-` key and its value, read through etcdctl (simple output: key line, value
/// line; no key or value here holds a newline).
fn stored_keys(member: &Member) -> BTreeMap<String, String> {
    let output = member.etcdctl(&["get", "key-", "--prefix"]);
    assert!(
        output.status.success(),
        "get key- --prefix after restart failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8 keys and values");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() % 2 == 0,
        "key/value lines come in pairs: {text:?}"
    );
    lines
        .chunks(2)
        .map(|pair| (pair[0].to_string(), pair[1].to_string()))
        .collect()
}

#[test]
fn acknowledged_puts_survive_sigkill_and_restart() {
    let mut member = Member::start(&[]);
    let mut attempted = BTreeSet::new();
    let mut acked = BTreeMap::new();
    for round in 0..ROUNDS {
        let writes = write_kill_restart(&mut member, round);
        let acked_this_round = writes.acked.len();
        attempted.extend(writes.attempted);
        acked.extend(writes.acked);

        let stored = stored_keys(&member);
        let lost: Vec<_> = acked
            .iter()
            .filter(|(key, value)| stored.get(*key) != Some(*value))
            .map(|(key, value)| format!("{key}={value} (stored: {:?})", stored.get(key)))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} of {} acknowledged puts lost or changed after SIGKILL and \
             restart: {lost:?}",
            lost.len(),
            acked.len()
        );
        let invented: Vec<_> = stored.keys().filter(|k| !attempted.contains(*k)).collect();
        assert!(
            invented.is_empty(),
            "round {round}: keys no writer put appeared: {invented:?}"
        );
        eprintln!(
            "round {round}: {acked_this_round} puts acknowledged around the SIGKILL, {} of {} \
             attempted in all rounds stored, all {} acknowledged present",
            stored.len(),
            attempted.len(),
            acked.len()
        );
    }
}
