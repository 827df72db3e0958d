# shellcheck shell=bash
# Shell helpers for the on-demand benchmark scripts (sourced, not run): start a cluster of
# real member processes on loopback with etcd's own flags, so that the same helpers drive
# etcd-rs and the real etcd.
#
# A cluster is named by a label (e.g. "etcd", "etcd-rs") and a base port: member i listens
# for clients on BASE+2i and for peers on BASE+2i+1, and is called m<i>. Keep BASE below the
# kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, usually from 32768):
# tests that bind port 0 on the same machine take ports from that range. Its data dir,
# log and pid file live under $CLUSTER_WORK/<label>/. Extra flags for every member (e.g.
# --heartbeat-interval) go in the array CLUSTER_FLAGS. Needs: curl, etcdctl, python3.

CLUSTER_WORK=${CLUSTER_WORK:-}
CLUSTER_FLAGS=()

cluster_client_port() { # BASE I
    echo $(($1 + 2 * $2))
}

# Comma-separated client endpoints (host:port) of members [0, N), or of the ones listed
# after N.
cluster_endpoints() { # BASE N [I...]
    local base=$1 n=$2 i out=()
    shift 2
    local ids=("$@")
    if [ ${#ids[@]} -eq 0 ]; then mapfile -t ids < <(seq 0 $((n - 1))); fi
    for i in "${ids[@]}"; do out+=("127.0.0.1:$(cluster_client_port "$base" "$i")"); done
    local IFS=,
    echo "${out[*]}"
}

# Starts (or restarts, on its existing data dir) member I in the background. Must run in
# the script's own shell (not in $(...)), so that the member is the script's child.
member_start() { # LABEL BIN BASE N I
    local label=$1 bin=$2 base=$3 n=$4 i=$5 j initial=()
    local dir=$CLUSTER_WORK/$label
    mkdir -p "$dir"
    for j in $(seq 0 $((n - 1))); do
        initial+=("m$j=http://127.0.0.1:$(($(cluster_client_port "$base" "$j") + 1))")
    done
    local client peer
    client=$(cluster_client_port "$base" "$i")
    peer=$((client + 1))
    local IFS=,
    "$bin" --name "m$i" --data-dir "$dir/m$i.data" \
        --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "${initial[*]}" --initial-cluster-token "bench-$label" \
        "${CLUSTER_FLAGS[@]}" >>"$dir/m$i.log" 2>&1 &
    echo $! >"$dir/m$i.pid"
}

member_pid() { # LABEL I
    cat "$CLUSTER_WORK/$1/m$2.pid"
}

# Waits until the member answers /health with "true" (which needs a leader), up to
# SECONDS (default 20); if the process is gone or never answers, shows the end of its log.
member_wait_healthy() { # LABEL BASE I [SECONDS]
    local url tries=$((${4:-20} * 10))
    url="http://127.0.0.1:$(cluster_client_port "$2" "$3")/health"
    for _ in $(seq 1 "$tries"); do
        if curl -sf -m 1 "$url" | grep -q '"health":"true"'; then return 0; fi
        if ! kill -0 "$(member_pid "$1" "$3")" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "$1 member m$3 ($url) did not become healthy; end of $CLUSTER_WORK/$1/m$3.log:" >&2
    tail -5 "$CLUSTER_WORK/$1/m$3.log" >&2
    return 1
}

cluster_start() { # LABEL BIN BASE N
    local i
    rm -rf "${CLUSTER_WORK:?}/$1"
    for i in $(seq 0 $(($4 - 1))); do member_start "$1" "$2" "$3" "$4" "$i"; done
    for i in $(seq 0 $(($4 - 1))); do member_wait_healthy "$1" "$3" "$i"; done
}

# Index of the member that is the leader according to every member that answers
# Maintenance.Status (nothing, with status 1, when they disagree or none answers).
cluster_leader() { # BASE N
    etcdctl --endpoints "$(cluster_endpoints "$1" "$2")" --command-timeout 1s endpoint status -w json 2>/dev/null |
        python3 -c '
import json, sys
rows = json.load(sys.stdin)
leaders = {r["Status"]["leader"] for r in rows}
ids = {r["Status"]["header"]["member_id"]: r["Endpoint"] for r in rows}
if len(leaders) != 1 or next(iter(leaders)) not in ids:
    sys.exit(1)
port = int(ids[next(iter(leaders))].rsplit(":", 1)[1])
print((port - int(sys.argv[1])) // 2)
' "$1"
}

# Waits until all members agree on a leader and report the same raft index (the restarted
# member has caught up), up to 20 s; prints the leader's index.
cluster_wait_stable() { # BASE N
    local out
    for _ in $(seq 1 200); do
        out=$(etcdctl --endpoints "$(cluster_endpoints "$1" "$2")" --command-timeout 1s endpoint status -w json 2>/dev/null |
            python3 -c '
import json, sys
rows = json.load(sys.stdin)
if len(rows) == int(sys.argv[1]) and len({r["Status"]["raftIndex"] for r in rows}) == 1:
    print("ok")
' "$2") || true
        if [ "$out" = ok ] && cluster_leader "$1" "$2"; then return 0; fi
        sleep 0.1
    done
    echo "cluster at base port $1 did not settle (leader agreed and raft indexes equal)" >&2
    return 1
}

# Peak RSS (VmHWM) of the members, summed, in KiB.
cluster_peak_rss_kib() { # LABEL N
    local i sum=0
    for i in $(seq 0 $(($2 - 1))); do
        sum=$((sum + $(awk '/VmHWM/ {print $2}' "/proc/$(member_pid "$1" "$i")/status")))
    done
    echo "$sum"
}

cluster_stop() { # LABEL N
    local i pid
    for i in $(seq 0 $(($2 - 1))); do
        pid=$(member_pid "$1" "$i")
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
