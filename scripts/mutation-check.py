#!/usr/bin/env python3
"""Plants one known bug at a time in a scratch copy of the tree and checks that the
simulation sweep catches it. On demand, never in CI; nothing here touches the checkout.

Usage: scripts/mutation-check.py [--seeds N] [NAME ...]
Prints, per mutation, whether the sweep failed and at which seed the first violation was
seen (the sweep reports failing seeds in ascending order).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# name -> (file, original text, mutated text, what the bug is)
MUTATIONS = {
    "commit-older-term-by-count": (
        "src/raft/raft_log.rs",
        "if index > self.committed && self.term_or_zero(index) == term {",
        "if index > self.committed {",
        "count an older-term entry as committed by replica count (§5.4.2)",
    ),
    "vote-not-persisted": (
        "src/raft/raw_node.rs",
        "hard_state: (hard != self.prev_hard_state).then_some(hard),",
        "hard_state: (hard != self.prev_hard_state).then_some(HardState { vote: NodeId::NONE, ..hard }),",
        "forget to persist the vote before answering",
    ),
    "append-without-prev-match": (
        "src/raft/raft_log.rs",
        "if !self.match_term(index, log_term) {\n            return Ok(None);\n        }",
        "if index > self.last_index() {\n            return Ok(None);\n        }",
        "a follower accepts an append whose previous entry does not match",
    ),
    "vote-ignores-log-freshness": (
        "src/raft/raft.rs",
        "if can_vote && self.log.is_up_to_date(m.index, m.log_term) {",
        "if can_vote {",
        "grant votes without the up-to-date log check (§5.4.1)",
    ),
    "read-index-without-quorum": (
        "src/raft/replication.rs",
        "if self.tracker.is_singleton() {",
        "if true {",
        "answer ReadIndex without confirming leadership with a quorum",
    ),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", "/tmp/etcd-rs-mutation-target")
    names = args.names or list(MUTATIONS)
    results = []
    for name in names:
        path, original, mutated, what = MUTATIONS[name]
        scratch = tempfile.mkdtemp(prefix=f"mutation-{name}-")
        shutil.copytree(root, scratch, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("target", ".git", "data"))
        file = os.path.join(scratch, path)
        text = open(file).read()
        if original not in text:
            print(f"{name}: original text not found in {path}; update the script", file=sys.stderr)
            results.append((name, what, "stale"))
            continue
        open(file, "w").write(text.replace(original, mutated, 1))
        env = dict(os.environ, SIM_SEEDS=str(args.seeds), CARGO_TARGET_DIR=target)
        run = subprocess.run(
            ["cargo", "test", "--profile", "ci", "--test", "simulation", "--", "--nocapture"],
            cwd=scratch, env=env, capture_output=True, text=True)
        output = run.stdout + run.stderr
        seeds = [int(s) for s in re.findall(r"--seed (\d+)", output)]
        if run.returncode == 0:
            verdict = "NOT CAUGHT"
        elif seeds:
            verdict = f"caught: {len(set(seeds))} failing seeds, first at seed {min(seeds)}"
        else:
            verdict = "build or harness failure (see log)"
            open(os.path.join(scratch, "mutation.log"), "w").write(output)
        results.append((name, what, verdict))
        print(f"{name}: {verdict}", flush=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    for name, what, verdict in results:
        print(f"| {name} | {what} | {verdict} |")


if __name__ == "__main__":
    main()
