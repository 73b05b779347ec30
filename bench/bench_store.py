#!/usr/bin/python3
"""Results-store benchmark: a database of 1,000 runs and 2 million samples,
then the time of `yardstick report` (the leaderboard) and `yardstick compare`
(run against run, sample by sample), whole process, best of 3.

The database is created with `yardstick import` for the schema, then filled
directly with Python's sqlite3 (the fastest way to get 2M rows; the rows are
what `yardstick run` writes: per-sample metrics JSON with 0/1 accuracy).

Usage: /usr/bin/python3 bench/bench_store.py [--yardstick build-rel/eval/yardstick] [--db /tmp/ys_store_bench.db]
"""
import argparse
import json
import os
import random
import sqlite3
import subprocess
import time

TASKS = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli", "boolq"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--yardstick", default="build-rel/eval/yardstick")
    ap.add_argument("--db", default="/tmp/ys_store_bench.db")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=2_000_000)
    args = ap.parse_args()
    ys = os.path.abspath(args.yardstick)
    if os.path.exists(args.db):
        os.remove(args.db)
    # the schema, through yardstick itself
    seed = {"results": {"sst2": {"acc,none": 0.5}}, "model_name": "seed"}
    with open(args.db + ".seed.json", "w") as f:
        json.dump(seed, f)
    subprocess.run([ys, "import", args.db + ".seed.json", "--db", args.db], check=True, stdout=subprocess.DEVNULL)
    os.remove(args.db + ".seed.json")
    rng = random.Random(1)
    t = time.time()
    con = sqlite3.connect(args.db)
    con.execute("PRAGMA synchronous = OFF")
    models = 50
    for m in range(models):
        con.execute("INSERT INTO models (name, weights_sha256) VALUES (?, ?)", (f"model-{m:02d}", f"{m:064x}"))
    per_run = args.samples // args.runs
    per_task = per_run // len(TASKS)
    for r in range(args.runs):
        mid = 2 + r % models  # model 1 is the seed import's
        cur = con.execute("INSERT INTO runs (model_id, tasks, started_at, status, version) VALUES (?, ?, ?, 'complete', 'bench')",
                          (mid, ",".join(TASKS), f"2026-01-01T00:{r // 60 % 60:02d}:{r % 60:02d}Z"))
        run = cur.lastrowid
        skill = 0.5 + 0.4 * ((mid * 37) % 100) / 100 + rng.uniform(-0.02, 0.02)
        rows, res = [], []
        for t_i, task in enumerate(TASKS):
            acc = 0
            for d in range(per_task):
                ok = 1 if rng.random() < skill else 0
                acc += ok
                rows.append((run, task, d, None, "prompt", "yes" if ok else "no", "yes", f'{{"acc": {ok}}}', None, None))
            v = acc / per_task
            res.append((run, task, "acc", "none", v, per_task, (v * (1 - v) / per_task) ** 0.5, None, None, 1, "h"))
        con.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.executemany("INSERT INTO task_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", res)
    con.commit()
    n = con.execute("SELECT count(*) FROM samples").fetchone()[0]
    nr = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    con.close()
    print(f"built {nr} runs, {n} samples in {time.time() - t:.1f}s ({os.path.getsize(args.db) / 1e6:.0f} MB)")

    def best(cmd, ok=(0, 1)):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            times.append(time.perf_counter() - t0)
            if p.returncode not in ok:
                raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.decode()}")
        return min(times)

    rep = best([ys, "report", "--db", args.db, "--format", "html", "-o", "/tmp/ys_store_bench.html"])
    rep_md = best([ys, "report", "--db", args.db])
    cmp = best([ys, "compare", "--db", args.db, "--baseline", "2", "--candidate", str(nr)])
    print("| operation | seconds | target |")
    print("|---|---|---|")
    print(f"| report (html, {models} models x {len(TASKS)} tasks, history of {nr} runs) | {rep:.3f} | < 1 s |")
    print(f"| report (markdown) | {rep_md:.3f} | < 1 s |")
    print(f"| compare run 2 vs run {nr} ({per_run} paired samples, McNemar per task, Holm) | {cmp:.3f} | < 2 s |")


if __name__ == "__main__":
    main()
