#!/usr/bin/env python3
"""Summarises folded perf stacks of one etcd-rs member (inferno-collapse-perf --all
output: "thread;frame;...;leaf count") as a markdown table: the share of samples each
component of the member takes, and how much of it is spent in the kernel (system calls,
wake-ups, the network stack, fsync).

usage: profile_summary.py FOLDED
"""

import collections
import sys

# (component, test on the stack). The first that matches names the sample; the frames
# are tested root first, so a handler is named by its actor even deep in fjall.
COMPONENTS = [
    ("RaftLog actor: persist (fjall journal write, fsync)", lambda s: "raft_log::RaftLog" in s),
    ("Applier actor: apply (MVCC, fjall batch), serializable reads", lambda s: "applier::Applier" in s),
    ("RaftNode actor: raft core, Ready handling", lambda s: "raft_node::RaftNode" in s),
    ("WatchHub actor", lambda s: "watch_hub::WatchHub" in s),
    ("fjall background threads (memtable flush, compaction)", lambda s: s.startswith("fjall")),
    ("API threads: gRPC (h2, hyper, tonic) and the services", lambda s: s.startswith("etcd-rs-api")),
]


def component(stack):
    for name, test in COMPONENTS:
        if test(stack):
            return name
    thread = stack.split(";", 1)[0]
    return f"other ({thread})"


def main():
    samples = collections.Counter()
    kernel = collections.Counter()
    total = 0
    with open(sys.argv[1], encoding="utf-8") as folded:
        for line in folded:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count)
            name = component(stack)
            samples[name] += count
            if stack.rsplit(";", 1)[-1].endswith("_[k]"):
                kernel[name] += count
            total += count
    print("| component | share of samples | of which in the kernel |")
    print("|---|---|---|")
    for name, count in samples.most_common():
        print(f"| {name} | {100 * count / total:.1f} % | {100 * kernel[name] / total:.1f} % |")
    print(f"| all ({total} samples) | 100 % | {100 * sum(kernel.values()) / total:.1f} % |")


if __name__ == "__main__":
    main()
