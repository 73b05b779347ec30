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

--mode pipeline measures `--pipeline K` (a decoder cut into K stages, one
per rank) on the scoring workload instead (--parts throughput), and on the
generation workload (--parts generation; --gen-tasks, --gen-limit):
  throughput `mpirun -np 2 --bind-to core yardstick run --pipeline 2
             --threads 1` against one process `--threads 2` (the same two
             cores), median and range of --repeat repetitions, alternating
             order; the results JSON must be byte-identical
  utilisation each stage's busy seconds (computing its layers) over the
             seconds from its first batch to the end of its last, from the
             "pipeline:" line rank 0 prints
  memory     each rank's peak resident size (VmHWM, from getrusage of the
             rank run as a child of this script), for 1 process and for
             --pipeline 2 and 3 ranks on the same command; then every rank
             under a limit on its private writable memory (RLIMIT_DATA,
             --limit-mb: the heap and anonymous mappings, where the packed
             weights live) smaller than the whole model's and larger than a
             stage's: one process must fail to load, --pipeline 2 and 3 must
             finish with its results. Why not `ulimit -v`: the checkpoint is
             memory-mapped whole (a stage reads only its tensors' pages,
             which is what makes its resident size its share), and Open MPI
             and glibc's thread arenas reserve address space they never use;
             the address space says little about memory there.

--mode costs measures rank 0's own work per response, the input of the
README's model for 8-512 ranks: one process on the bundled tiny model (so
the engine's time is small) over many multiple-choice requests into a fresh
store, then the same command again (every response from the cache); the
summary's "store" seconds of the first run minus the second's are the
response cache's writes (one transaction per batch), the second's are the
look-ups, samples and results. --repeat times.

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


def run_once(ys, model, tasks, extra, ranks, work, pipeline=0, wrap=None, threads=None, check=True):
    """One run into a fresh store; (whole seconds, run's own seconds, results
    text, stderr, exit code). wrap: a command prefix for each rank."""
    d = tempfile.mkdtemp(dir=work)
    args = [ys, "run", "--model", model, "--tasks", tasks, "--db", os.path.join(d, "s.db"),
            "--output", os.path.join(d, "r.json")] + extra
    if pipeline:
        args += ["--pipeline", str(pipeline)]
    args += ["--threads", str(threads or (1 if ranks else 2))]
    if wrap:
        args = wrap + args
    # more ranks than cores (the memory runs' 3 stages on 2 cores): still one
    # core each (an unbound rank packs its weights on all the host's cores,
    # and OpenBLAS then reserves buffers per thread: address space that
    # counts against RLIMIT_DATA though it is never touched)
    bind = ["--bind-to", "core"] if ranks <= (os.cpu_count() or 1) else ["--oversubscribe", "--bind-to",
                                                                          "core:overload-allowed"]
    cmd = (["mpirun", "-np", str(ranks)] + bind if ranks else []) + args
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    whole = time.monotonic() - t0
    if p.returncode != 0 and check:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    m = re.search(r"^wall ([0-9.]+)s", p.stderr, re.M)
    results = ""
    if os.path.exists(os.path.join(d, "r.json")):
        with open(os.path.join(d, "r.json")) as f:
            results = f.read()
    shutil.rmtree(d)
    return whole, float(m.group(1)) if m else float("nan"), results, p.stderr, p.returncode


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
    ap.add_argument("--mode", choices=["data", "pipeline", "costs"], default="data")
    ap.add_argument("--parts", default="throughput,memory",
                    help="pipeline mode: which measurements (throughput: scoring; generation; memory)")
    ap.add_argument("--score-limit", type=int, default=0, help="pipeline mode: documents per task (0: all)")
    ap.add_argument("--limit-mb", type=int, default=0,
                    help="pipeline mode: each rank's RLIMIT_DATA in MB (0: between a stage's and the whole model's "
                    "peak, from the measurement)")
    a = ap.parse_args()
    ys = os.path.join(a.build, "eval", "yardstick")
    if not os.path.exists(os.path.join(a.model, "model.safetensors")):
        sys.exit("no model at %s: /usr/bin/python3 bench/make_gpt2_small.py %s" % (a.model, a.model))
    work = tempfile.mkdtemp(prefix="ys_bench_mpi_")
    if a.mode == "pipeline":
        pipeline(a, ys, work)
        shutil.rmtree(work)
        return
    if a.mode == "costs":
        costs(a, ys, work)
        shutil.rmtree(work)
        return
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
                got[ranks] = run_once(ys, a.model, tasks, extra, ranks, work)[:3] + (la,)
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


def rank_wrap(limit_mb, report):
    """A prefix that runs each rank as a child of this script (`--rank-child`),
    under RLIMIT_DATA limit_mb (0: none), appending its peak RSS to report."""
    return [sys.executable, os.path.abspath(__file__), "--rank-child", str(limit_mb), report, "--"]


def rank_child(argv):
    """(Runs as a rank) the command after "--" as a child under the limit;
    one line "RANK PEAK_KB EXIT" appended to the report file."""
    import resource
    limit_mb, report, cmd = int(argv[0]), argv[1], argv[3:]

    def limit():
        if limit_mb:
            resource.setrlimit(resource.RLIMIT_DATA, (limit_mb << 20, limit_mb << 20))
    p = subprocess.run(cmd, preexec_fn=limit)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rank = os.environ.get("OMPI_COMM_WORLD_RANK", "0")
    with open(report, "a") as f:
        f.write("%s %d %d\n" % (rank, peak, p.returncode))
    sys.exit(p.returncode)


def peaks(report):
    """{rank: (peak MB, exit)} from a report file."""
    out = {}
    with open(report) as f:
        for line in f:
            r, kb, rc = line.split()
            out[int(r)] = (int(kb) / 1024.0, int(rc))
    os.remove(report)
    return out


def utilisation(stderr):
    """[(busy s, wall s)] per stage from rank 0's "pipeline:" line."""
    m = re.search(r"^pipeline: .*$", stderr, re.M)
    if not m:
        return []
    return [(float(b), float(w)) for b, w in re.findall(r"\(([0-9.]+) s of ([0-9.]+) s\)", m.group(0))]


def costs(a, ys, work):
    tiny = os.path.join(ROOT, "tests", "data", "models", "tiny")
    tasks = "mmlu,hellaswag,arc_easy,arc_challenge,piqa,winogrande,boolq,lambada_openai,truthfulqa_mc2"
    rows = []
    for rep in range(a.repeat):
        d = tempfile.mkdtemp(dir=work)
        got = []
        for run in range(2):
            cmd = [ys, "run", "--model", tiny, "--tasks", tasks, "--db", os.path.join(d, "s.db"), "--threads", "1",
                   "--output", os.path.join(d, "r%d.json" % run)]
            p = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr))
            store = float(re.search(r"store ([0-9.]+)s", p.stderr).group(1))
            reused = re.search(r"^([0-9]+) responses reused", p.stderr, re.M)
            got.append((store, int(reused.group(1)) if reused else 0))
        n = got[1][1]
        r = {"responses": n, "write_ms_per_response": (got[0][0] - got[1][0]) / n * 1e3,
             "lookup_and_rest_ms_per_response": got[1][0] / n * 1e3, "loadavg": loadavg()}
        rows.append(r)
        shutil.rmtree(d)
        log("costs rep %d: %d responses; writes %.3f ms per response, look-ups, samples and results %.3f ms; load "
            "average %.1f" % (rep + 1, n, r["write_ms_per_response"], r["lookup_and_rest_ms_per_response"],
                              r["loadavg"]))
    print("| rank 0's work per response | ms |")
    print("|---|---|")
    print("| response cache writes (one transaction per batch of 8) | %s |"
          % spread([r["write_ms_per_response"] for r in rows]))
    print("| cache look-ups, samples and results | %s |" % spread([r["lookup_and_rest_ms_per_response"] for r in rows]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"costs": rows}, f, indent=1)


def print_pipeline(out, rows, mem, lim, limit):
    if rows:
        print("| configuration | whole command (s) | run only (s) | throughput vs one process | stage utilisation |")
        print("|---|---|---|---|---|")
        print("| one process, --threads 2 | %s | %s | 1 | - |" % (spread([r["one_whole_s"] for r in rows]),
                                                              spread([r["one_run_s"] for r in rows])))
        print("| --pipeline 2, 2 ranks x --threads 1 | %s | %s | %s (run only %s) | %s |" % (
            spread([r["pipe_whole_s"] for r in rows]), spread([r["pipe_run_s"] for r in rows]),
            spread([r["ratio_whole"] for r in rows]), spread([r["ratio_run"] for r in rows]),
            ", ".join(spread([r["stage_util"][s] for r in rows]) for s in range(2))))
        print()
    if mem:
        print("| ranks | peak RSS per rank (MB) | under RLIMIT_DATA %d MB |" % limit)
        print("|---|---|---|")
        for k in [0, 2, 3]:
            print("| %s | %s | %s |" % ("1 (one process)" if not k else "%d (--pipeline %d)" % (k, k),
                                        ", ".join("%.0f" % mem[k][r][0] for r in sorted(mem[k])),
                                        "finishes, the same results" if lim[k]["same_results"]
                                        else "exit %d: %s" % (lim[k]["exit"], lim[k]["message"])))


def pipe_vs_one(a, ys, work, tasks, extra, what, repeat):
    """2 stages on 2 cores against one process on both: rows per repetition."""
    rows = []
    for rep in range(repeat):
        got = {}
        for k in ([0, 2] if rep % 2 == 0 else [2, 0]):
            la = loadavg()
            whole, run, res, err, _ = run_once(ys, a.model, tasks, extra, k, work, pipeline=k)
            got[k] = (whole, run, res, utilisation(err), la)
        if got[0][2] != got[2][2]:
            sys.exit("pipeline: the results JSON of --pipeline 2 differs from one process's")
        u = got[2][3]
        r = {"one_whole_s": got[0][0], "one_run_s": got[0][1], "pipe_whole_s": got[2][0], "pipe_run_s": got[2][1],
             "ratio_whole": got[0][0] / got[2][0], "ratio_run": got[0][1] / got[2][1],
             "stage_util": [b / w if w else float("nan") for b, w in u], "stage_busy_wall_s": u,
             "loadavg": [got[0][4], got[2][4]]}
        rows.append(r)
        log("pipeline %s rep %d: one process %.2f s (run %.2f s), --pipeline 2 %.2f s (run %.2f s): throughput "
            "ratio %.3f (run only %.3f); stage utilisation %s; load average before %.1f / %.1f"
            % (what, rep + 1, r["one_whole_s"], r["one_run_s"], r["pipe_whole_s"], r["pipe_run_s"], r["ratio_whole"],
               r["ratio_run"], " ".join("%.3f" % x for x in r["stage_util"]), got[0][4], got[2][4]))
    return rows


def pipeline(a, ys, work):
    tasks = a.score_tasks
    extra = ["--num-fewshot", str(a.fewshot)] + (["--limit", str(a.score_limit)] if a.score_limit else [])
    out = {"machine": {"cpus": os.cpu_count(), "loadavg_start": loadavg()}, "model": a.model}
    # throughput and utilisation: 2 stages on 2 cores against one process on
    # both, on the scoring workload, then (part "generation") on generation
    rows = pipe_vs_one(a, ys, work, tasks, extra, "scoring", a.repeat if "throughput" in a.parts else 0)
    out["throughput"] = rows
    gen = pipe_vs_one(a, ys, work, a.gen_tasks, ["--limit", str(a.gen_limit)], "generation",
                      a.repeat if "generation" in a.parts else 0)
    out["generation"] = gen
    if "memory" not in a.parts:
        out["machine"]["loadavg_end"] = loadavg()
        print_pipeline(out, rows, None, None, None)
        print_pipeline(out, gen, None, None, None)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)
        return
    # memory: peak RSS per rank, 1 process and 2 and 3 stages (a short run:
    # the weights dominate)
    mem_tasks, mem_extra = "copa", ["--limit", "8"]
    report = os.path.join(work, "peaks.txt")
    mem = {}
    ref = None
    for k in [0, 2, 3]:
        _, _, res, err, rc = run_once(ys, a.model, mem_tasks, mem_extra, k, work, pipeline=k,
                                      wrap=rank_wrap(0, report), threads=1)
        mem[k] = peaks(report)
        ref = res if k == 0 else ref
        if res != ref:
            sys.exit("memory run: --pipeline %d's results differ from one process's" % k)
        log("peak RSS, %s: %s" % ("one process" if not k else "--pipeline %d" % k,
                                   ", ".join("rank %d %.0f MB" % (r, mem[k][r][0]) for r in sorted(mem[k]))))
    out["peak_rss_mb"] = {str(k): {str(r): v[0] for r, v in m.items()} for k, m in mem.items()}
    # the limit: below one process's peak, above every stage's
    stage_max = max(v[0] for k in (2, 3) for v in mem[k].values())
    limit = a.limit_mb or int((stage_max + mem[0][0][0]) / 2)
    lim = {}
    for k in [0, 2, 3]:
        _, _, res, err, rc = run_once(ys, a.model, mem_tasks, mem_extra, k, work, pipeline=k,
                                      wrap=rank_wrap(limit, report), threads=1, check=False)
        lim[k] = {"exit": rc, "same_results": res == ref and rc == 0, "peaks": peaks(report),
                  "message": (re.findall(r"^yardstick.*$", err, re.M) or [""])[0]}
        log("RLIMIT_DATA %d MB, %s: exit %d%s %s" % (limit, "one process" if not k else "--pipeline %d" % k, rc,
                                                    ", the same results" if lim[k]["same_results"] else "",
                                                    lim[k]["message"]))
    out["limit_mb"] = limit
    out["under_limit"] = {str(k): {"exit": v["exit"], "same_results": v["same_results"], "message": v["message"]}
                          for k, v in lim.items()}
    out["machine"]["loadavg_end"] = loadavg()
    print_pipeline(out, rows, mem, lim, limit)
    print_pipeline(out, gen, None, None, None)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--rank-child":
        rank_child(sys.argv[2:])
    else:
        main()
