#!/usr/bin/env bash
# Times the way from etcd to etcd-rs against etcd's own restore, on the same snapshot:
# a real etcd (Debian's /usr/bin/etcd) is loaded with KEYS keys of VALUE bytes (each
# written twice, so there is history), its snapshot is saved with etcdctl and restored
# twice with `etcdctl snapshot restore`; then etcd and etcd-rs each start on one of the
# restored data dirs, and the time from the start to a healthy /health is measured
# (etcd-rs's includes reading etcd's backend into its own store). Prints both times,
# their ratio and the snapshot's size; the key count is checked on both.
#
#   scripts/import_bench.sh [KEYS] [VALUE]     (defaults 200000 and 256)
#
# Needs etcd-server and etcd-client (Debian), and builds etcd-rs in release mode.
set -euo pipefail

keys=${1:-200000}
value=${2:-256}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/etcd-rs-import-bench.XXXXXX)
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$root" && cargo build --release --quiet)
bin="$root/target/release/etcd-rs"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
healthy() { curl -sf "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"health":"true"'; }
start_member() { # server data-dir client peer log
    "$1" --data-dir "$2" --name m --initial-cluster "m=http://127.0.0.1:$4" \
        --initial-cluster-token tok --initial-advertise-peer-urls "http://127.0.0.1:$4" \
        --listen-peer-urls "http://127.0.0.1:$4" --listen-client-urls "http://127.0.0.1:$3" \
        --advertise-client-urls "http://127.0.0.1:$3" --quota-backend-bytes 8589934592 \
        >"$5" 2>&1 &
}
seconds_to_healthy() { # server data-dir log -> seconds
    local client peer started
    client=$(port); peer=$(port)
    started=$(date +%s.%N)
    start_member "$1" "$2" "$client" "$peer" "$3"
    until healthy "$client"; do sleep 0.02; done
    echo "$(date +%s.%N) - $started" | bc
    count=$(ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" get "" --prefix --keys-only --limit=1 -w json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    [ "$count" = "$keys" ] || { echo "$1 serves $count keys, not $keys" >&2; exit 1; }
    pkill -f "$2" || true
    sleep 1
}

client=$(port); peer=$(port)
start_member /usr/bin/etcd "$work/source" "$client" "$peer" "$work/source.log"
until healthy "$client"; do sleep 0.1; done
for round in 1 2; do
    "$bin" bench --endpoints "127.0.0.1:$client" --clients 64 --conns 8 put --total "$keys" \
        --key-size 16 --val-size "$value" --key-space-size "$keys" --sequential-keys >/dev/null
done
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" snapshot save "$work/snap.db" >/dev/null 2>&1
pkill -f "$work/source" || true
sleep 1
for dir in etcd etcd-rs; do
    ETCDCTL_API=3 etcdctl snapshot restore "$work/snap.db" --data-dir "$work/$dir" --name m \
        --initial-cluster "m=http://127.0.0.1:$peer" --initial-cluster-token tok \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" >/dev/null 2>&1
done
size=$(stat -c %s "$work/snap.db")
etcd_s=$(seconds_to_healthy /usr/bin/etcd "$work/etcd" "$work/etcd.log")
rs_s=$(seconds_to_healthy "$bin" "$work/etcd-rs" "$work/etcd-rs.log")
grep "imported etcd's backend" "$work/etcd-rs.log" || true
printf 'snapshot: %d keys x 2 revisions, %d bytes\n' "$keys" "$size"
printf 'etcd 3.4 starts on it in %.2f s; etcd-rs imports it and starts in %.2f s (ratio %.2f)\n' \
    "$etcd_s" "$rs_s" "$(echo "$rs_s / $etcd_s" | bc -l)"
