#!/usr/bin/env bash
# Profiles one etcd-rs member under one `etcd-rs bench` workload with perf, and writes a
# flame graph (SVG) and a table of where the server's CPU time goes (by thread and by
# component) into docs/profiles/. On demand, not in CI.
#
# usage: scripts/profile.sh [WORKLOAD...]     (default: put-1 put-100 range-s)
#        WORKLOAD is one of: put-1 put-100 range-l range-s txn-put
#        OUT=docs/profiles   where the SVGs and the summary go
#        FREQ=999            perf's sampling frequency (Hz)
# Needs: perf (Debian linux-perf), inferno (`cargo install inferno`: inferno-collapse-perf
# and inferno-flamegraph), curl, etcdctl. Builds etcd-rs in release mode with line tables
# (CARGO_PROFILE_RELEASE_DEBUG=line-tables-only) into target/profiling, so that stacks
# have names, without touching target/release.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-docs/profiles}
freq=${FREQ:-999}
workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then workloads=(put-1 put-100 range-s); fi
for tool in perf inferno-collapse-perf inferno-flamegraph curl etcdctl; do
    command -v "$tool" >/dev/null || {
        echo "profile.sh: $tool not found (perf: apt-get install linux-perf; inferno: cargo install inferno)" >&2
        exit 1
    }
done

CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR=target/profiling \
    cargo build --release --quiet
bin=target/profiling/release/etcd-rs
work=$(mktemp -d)
port=17379
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"

kv="--key-size 8 --val-size 256 --key-space-size 100000"
args_of() {
    case $1 in
    put-1) echo "--conns 1 --clients 1 put --total 5000 $kv" ;;
    put-100) echo "--conns 10 --clients 100 put --total 100000 $kv" ;;
    range-l) echo "--conns 10 --clients 100 range foo --consistency l --total 100000" ;;
    range-s) echo "--conns 10 --clients 100 range foo --consistency s --total 100000" ;;
    txn-put) echo "--conns 10 --clients 100 txn-put --total 50000 --txn-ops 2 $kv" ;;
    *)
        echo "unknown workload $1" >&2
        exit 1
        ;;
    esac
}

summary=$out/SUMMARY.md
{
    echo "# Profiles of one etcd-rs member"
    echo
    echo "Written by \`scripts/profile.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD)."
    echo "perf samples the server process at ${freq} Hz (cpu-clock, DWARF call graphs) while"
    echo "\`etcd-rs bench\` runs on the same 2 cores. Open the SVGs in a browser (they zoom)."
    echo
    echo "The disk's floor: one fdatasync after appending 300 bytes (a put's raft entry) to a"
    echo "file on the data dir's filesystem, 2,000 times:"
    python3 - "$work/fsync.test" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
times = []
for _ in range(2000):
    os.write(fd, b"x" * 300)
    started = time.perf_counter()
    os.fdatasync(fd)
    times.append(time.perf_counter() - started)
os.close(fd)
times.sort()
print(f"p50 {times[1000] * 1e3:.3f} ms, p99 {times[1980] * 1e3:.3f} ms.")
PY
} >"$summary"

for workload in "${workloads[@]}"; do
    args=$(args_of "$workload")
    rm -rf "$work/data"
    "$bin" --name m0 --data-dir "$work/data" \
        --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
        --listen-peer-urls "http://127.0.0.1:$((port + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
        --initial-cluster "m0=http://127.0.0.1:$((port + 1))" >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if curl -sf -m 1 "http://127.0.0.1:$port/health" | grep -q true; then break; fi
        sleep 0.1
    done
    etcdctl --endpoints "127.0.0.1:$port" put foo "$(head -c 256 /dev/zero | tr '\0' v)" >/dev/null
    perf record -q -F "$freq" -g --call-graph dwarf,16384 -p "$server_pid" -o "$work/perf.data" &
    perf_pid=$!
    sleep 0.5
    server_cpu_before=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
    # shellcheck disable=SC2086 # $args is a list of flags
    result=$(/usr/bin/time -f 'client CPU %U %S' "$bin" bench --endpoints "127.0.0.1:$port" $args 2>&1 |
        grep -E 'Requests/sec|50% in|99% in|client CPU' | tr -s ' \t' ' ' | tr '\n' ';')
    server_cpu_after=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
    total=$(echo "$args" | grep -o 'total [0-9]*' | cut -d' ' -f2)
    cpu_per_request=$(python3 -c "
import sys
result, ticks, total, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
user, system = (float(x) for x in result.split('client CPU ')[1].split(';')[0].split())
print(f'server CPU {ticks / hz / total * 1e6:.1f} µs per request (while perf records), '
      f'client CPU {(user + system) / total * 1e6:.1f} µs per request')
" "$result" "$((server_cpu_after - server_cpu_before))" "$total" "$(getconf CLK_TCK)")
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null || true
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=

    perf script -i "$work/perf.data" 2>/dev/null >"$work/perf.txt"
    inferno-collapse-perf --all <"$work/perf.txt" >"$work/folded.txt"
    # Frames narrower than 2 pixels are left out: the SVG stays small enough to commit.
    inferno-flamegraph --minwidth 2 --title "etcd-rs, 1 member: $workload ($args)" \
        <"$work/folded.txt" >"$out/$workload.svg"
    {
        echo
        echo "## $workload"
        echo
        echo "\`etcd-rs bench $args\`: ${result%%client CPU*} ${cpu_per_request}."
        echo
        echo "Flame graph: [$workload.svg]($workload.svg). Share of the server's samples:"
        echo
        python3 scripts/profile_summary.py "$work/folded.txt"
    } >>"$summary"
    echo "profile.sh: $workload done: $out/$workload.svg" >&2
done
