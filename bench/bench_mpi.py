#!/usr/bin/python3
"""Data-parallel `yardstick run` over MPI ranks (issue 16): the throughput of
`mpirun -np 2 --bind-to core yardstick run --threads 1` against one process
`yardstick run --threads 2` on the same machine (the same two cores), on a
GPT-2-small-shaped model, for a scoring and a generation workload.

  model      bench/make_gpt2_small.py's random GPT-2-small (124 M parameters,
             F32), --model (default /tmp/ys_gpt2s)
  scoring    multiple-choice tasks on their bundled sample data with few-shot
             prompts (--score-tasks, --fewshot): every request through the
             engine (a fresh store per run), prefix cache on (the default)
  generation SQuAD and GSM8K sample prompts (--gen-tasks): the random model
             never says a stop string, so each request decodes its task's
             max_gen_toks, continuous batching (default batch)
  measured   the whole command's wall time (MPI start-up included) and the
             run's own wall time from its summary ("wall X s": from the
             options parsed to the results written, MPI start-up excluded)
  efficiency throughput of the 2 ranks / throughput of the one process =
             t(one process, 2 threads) / t(2 ranks, 1 thread each), per
             repetition; the two configurations alternate order from one
             repetition to the next

The build must have -DYS_MPI=ON (--build). Each configuration's results JSON
must be byte-identical to the other's (checked; the script stops if not).
Run it as `setsid bench/prio.sh /usr/bin/python3 bench/bench_mpi.py ...`: the
mpirun processes then share the benchmark's scheduler group.

Usage (from the repository root):
  /usr/bin/python3 bench/make_gpt2_small.py /tmp/ys_gpt2s
  cmake -S . -B /tmp/build-mpi -DYS_MPI=ON && cmake --build /tmp/build-mpi -j2
  setsid bench/prio.sh /usr/bin/python3 bench/bench_mpi.py --build /tmp/build-mpi [--repeat 3] [--json out.json]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_once(ys, model, tasks, extra, ranks, work):
    """One run into a fresh store; (whole seconds, run's own seconds, results text)."""
    d = tempfile.mkdtemp(dir=work)
    args = [ys, "run", "--model", model, "--tasks", tasks, "--db", os.path.join(d, "s.db"),
            "--output", os.path.join(d, "r.json")] + extra
    if ranks:
        cmd = ["mpirun", "-np", str(ranks), "--bind-to", "core"] + args + ["--threads", "1"]
    else:
        cmd = args + ["--threads", "2"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    whole = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    m = re.search(r"^wall ([0-9.]+)s", p.stderr, re.M)
    with open(os.path.join(d, "r.json")) as f:
        results = f.read()
    shutil.rmtree(d)
    return whole, float(m.group(1)) if m else float("nan"), results


def spread(xs):
    return "%.3f (%.3f-%.3f)" % (statistics.median(xs), min(xs), max(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", default="/tmp/ys_gpt2s")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--score-tasks", default="hellaswag,arc_easy,arc_challenge,piqa,copa,winogrande,boolq")
    ap.add_argument("--fewshot", type=int, default=5)
    ap.add_argument("--gen-tasks", default="squad,gsm8k")
    ap.add_argument("--gen-limit", type=int, default=16)
    ap.add_argument("--json")
    a = ap.parse_args()
    ys = os.path.join(a.build, "eval", "yardstick")
    if not os.path.exists(os.path.join(a.model, "model.safetensors")):
        sys.exit("no model at %s: /usr/bin/python3 bench/make_gpt2_small.py %s" % (a.model, a.model))
    work = tempfile.mkdtemp(prefix="ys_bench_mpi_")
    workloads = [
        ("scoring", a.score_tasks, ["--num-fewshot", str(a.fewshot)]),
        ("generation", a.gen_tasks, ["--limit", str(a.gen_limit)]),
    ]
    out = {"machine": {"cpus": os.cpu_count(), "loadavg_start": loadavg()}, "workloads": {}}
    for name, tasks, extra in workloads:
        rows = []
        for rep in range(a.repeat):
            order = [0, 2] if rep % 2 == 0 else [2, 0]
            got = {}
            for ranks in order:
                la = loadavg()
                got[ranks] = run_once(ys, a.model, tasks, extra, ranks, work) + (la,)
            if got[0][2] != got[2][2]:
                sys.exit("%s: the results JSON of 2 ranks differs from one process's" % name)
            r = {"one_whole_s": got[0][0], "one_run_s": got[0][1], "mpi_whole_s": got[2][0],
                 "mpi_run_s": got[2][1], "eff_whole": got[0][0] / got[2][0], "eff_run": got[0][1] / got[2][1],
                 "loadavg": [got[0][3], got[2][3]]}
            rows.append(r)
            log("%s rep %d: one process %.2f s (run %.2f s), 2 ranks %.2f s (run %.2f s): efficiency %.3f "
                "(run only %.3f); load average before %.1f / %.1f"
                % (name, rep + 1, r["one_whole_s"], r["one_run_s"], r["mpi_whole_s"], r["mpi_run_s"], r["eff_whole"],
                   r["eff_run"], got[0][3], got[2][3]))
            if a.json:
                with open(a.json + ".partial", "w") as f:
                    json.dump(dict(out, workloads=dict(out["workloads"], **{name: rows})), f, indent=1)
        out["workloads"][name] = rows
    out["machine"]["loadavg_end"] = loadavg()
    shutil.rmtree(work)
    print("| workload | one process, --threads 2 (s) | 2 ranks x --threads 1 (s) | efficiency | efficiency, run only |")
    print("|---|---|---|---|---|")
    for name, rows in out["workloads"].items():
        print("| %s | %s | %s | %s | %s |" % (name, spread([r["one_whole_s"] for r in rows]),
                                              spread([r["mpi_whole_s"] for r in rows]),
                                              spread([r["eff_whole"] for r in rows]),
                                              spread([r["eff_run"] for r in rows])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
