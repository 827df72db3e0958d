#!/usr/bin/env bash
# Kill-leader → first successful write, etcd-rs next to the real etcd: two 3-member
# clusters of real processes on loopback (same flags, same --heartbeat-interval and
# --election-timeout), running side by side; trials alternate between them so both see the
# same machine load. One trial: find the leader, SIGKILL it (T0), retry a put against the
# two survivors (examples/failover_probe.rs: a new attempt every 5 ms, 200 ms timeout each)
# until one succeeds (T1); record T1 - T0; restart the killed member on its data dir and
# wait until the cluster has settled. On demand, never in CI.
#
# usage: scripts/failover-vs-etcd.sh [TRIALS]
# env: HEARTBEAT_MS (100), ELECTION_MS (1000): etcd's defaults; TIMEOUT_MS (200) and
# INTERVAL_MS (5) of the probe; KEEP=1 keeps the work dir (logs, per-trial JSON).
# needs: /usr/bin/etcd (Debian etcd-server), etcdctl, and release builds of etcd-rs and
# the probe (`cargo build --release && cargo build --release --example failover_probe`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster-lib.sh
trials=${1:-30}
heartbeat_ms=${HEARTBEAT_MS:-100}
election_ms=${ELECTION_MS:-1000}
timeout_ms=${TIMEOUT_MS:-200}
interval_ms=${INTERVAL_MS:-5}
target_dir=${CARGO_TARGET_DIR:-target}
etcd_rs=${ETCD_RS:-$target_dir/release/etcd-rs}
probe=${PROBE:-$target_dir/release/examples/failover_probe}
etcd=${ETCD:-/usr/bin/etcd}
work=$(mktemp -d)
CLUSTER_WORK=$work
CLUSTER_FLAGS=(--heartbeat-interval "$heartbeat_ms" --election-timeout "$election_ms")
trap 'kill $(jobs -p) 2>/dev/null || true; if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi' EXIT

# bash reports each SIGKILLed member ("line N: PID Killed "$bin" --name ..."): expected here.
# shellcheck disable=SC2016 # the literal text of the command bash prints
exec 2> >(grep --line-buffered -v ' Killed  *"$bin" --name ' >&2)

declare -A bin=([etcd]=$etcd [etcd-rs]=$etcd_rs)
declare -A base=([etcd]=${ETCD_PORT:-25379} [etcd-rs]=${ETCD_RS_PORT:-26379})

fail() { # message; keeps the work dir (member logs) for a post-mortem
    echo "$1; logs in $work" >&2
    KEEP=1
    exit 1
}

trial() { # label n
    local label=$1 leader survivors pid
    leader=$(cluster_wait_stable "${base[$label]}" 3) || fail "$label trial $2: cluster did not settle"
    mapfile -t survivors < <(seq 0 2 | grep -vx "$leader")
    pid=$(member_pid "$label" "$leader")
    if ! "$probe" "$pid" "$(cluster_endpoints "${base[$label]}" 3 "${survivors[@]}")" \
        "$timeout_ms" "$interval_ms" >>"$work/$label.jsonl"; then
        fail "$label trial $2: no write succeeded after killing m$leader"
    fi
    wait "$pid" 2>/dev/null || true
    echo "$label trial $2: killed m$leader, $(tail -1 "$work/$label.jsonl")" >&2
    member_start "$label" "${bin[$label]}" "${base[$label]}" 3 "$leader"
    member_wait_healthy "$label" "${base[$label]}" "$leader" || fail "$label trial $2: restarted m$leader not healthy"
}

for label in etcd etcd-rs; do cluster_start "$label" "${bin[$label]}" "${base[$label]}" 3; done
for n in $(seq 1 "$trials"); do
    for label in etcd etcd-rs; do trial "$label" "$n"; done
done
for label in etcd etcd-rs; do cluster_wait_stable "${base[$label]}" 3 >/dev/null; cluster_stop "$label" 3; done

python3 - "$work" "$heartbeat_ms" "$election_ms" "$timeout_ms" "$interval_ms" <<'PY'
import json, sys
work, heartbeat, election, timeout, interval = sys.argv[1:]
def pct(xs, q):  # nearest rank
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, -(-len(xs) * q // 100) - 1))]
def stats(label):
    rows = [json.loads(line) for line in open(f"{work}/{label}.jsonl")]
    ms = [r["failover_ms"] for r in rows]
    return {"trials": len(ms), "p50 ms": pct(ms, 50), "p99 ms": pct(ms, 99),
            "min ms": min(ms), "max ms": max(ms), "mean ms": sum(ms) / len(ms)}
print(f"kill leader -> first successful put; --heartbeat-interval {heartbeat} "
      f"--election-timeout {election} (ms); probe: new put every {interval} ms, {timeout} ms timeout each")
e, r = stats("etcd"), stats("etcd-rs")
print("| metric | etcd 3.4 | etcd-rs | etcd-rs / etcd |")
print("|---|---|---|---|")
for metric in e:
    if metric == "trials":
        print(f"| trials | {e[metric]} | {r[metric]} | |")
    else:
        print(f"| {metric} | {e[metric]:.1f} | {r[metric]:.1f} | {r[metric] / e[metric]:.2f} |")
PY
