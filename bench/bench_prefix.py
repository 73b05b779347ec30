#!/usr/bin/python3
"""Prefix-cache benchmark (issue 14, "Prefixes shared across requests";
issue 17's Performance paragraph): `yardstick run` wall time with the
prefix cache off (--prefix-cache-mb 0) and on (the default budget), on a
GPT-2-small-shaped random checkpoint, and the share of prompt tokens the
cache served (the run summary's "prompt tokens" line).

    /usr/bin/python3 bench/bench_prefix.py [--model /tmp/ys_gpt2s] [--repeat 2]
        [--workloads rte,mmlu,hellaswag] [--json out.json] [--workdir /tmp/ys_prefix_bench]

From the repository root after a Release build (build/eval/yardstick).
The model is written by bench/make_gpt2_small.py when DIR does not exist.

Workloads (each run with --threads 2 --no-db; off and on alternate within
a repetition, so both see the same machine load; the ratio is per
repetition and the spread over repetitions is reported):
  rte        GLUE RTE, the real dev split from ../shared/data (the first
             --rte-limit documents), 5-shot first_n. ../shared has no RTE
             train split, so the few-shot split is a train.tsv made of the
             dev file's rows from 200 on (real RTE text, never evaluated
             here; the bundled sample's train rows are a few words long,
             far shorter than RTE's, and would understate the shared part).
  mmlu       a synthetic MMLU in the official layout (data/{dev,test}/
             <subject>_{dev,test}.csv, headerless question,A,B,C,D,answer)
             for a few subjects: questions of 15-75 words, answers of 1-9
             words (real MMLU 5-shot prompts are ~400-700 GPT-2 tokens; these
             come to ~300-500), words drawn from GPT-2's vocabulary (one token
             each). 5-shot, the tasks' own first_n sampler (lm-eval's mmlu).
             The time per question is extrapolated to the full 14,042.
  hellaswag  a synthetic HellaSwag (official jsonl fields), 10-shot, with
             lm-eval's default (random, per document) sampler, as the task
             specifies, and with first_n, to show what the sampler does to
             prefix sharing.
Results must be identical with and without the cache (stdout compared).
Each run's wall time and CPU time (user + system of the child, from
getrusage) are recorded: on a shared, overloaded machine the wall times of
identical runs vary by 2-3x, the CPU times far less, so both ratios are
reported.
"""
import argparse
import json
import os
import random
import resource
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
YS = os.path.join(ROOT, "build", "eval", "yardstick")
YS_BIN = [YS]   # --yardstick
SHARED = os.environ.get("YS_SHARED_DIR", os.path.join(ROOT, "..", "shared"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def words_from_vocab(model):
    with open(os.path.join(model, "vocab.json")) as f:
        vocab = json.load(f)
    w = [t[1:] for t in vocab if t.startswith("\u0120") and t[1:].isalpha() and t[1:].islower() and 3 <= len(t) <= 11]
    w.sort()
    return w


def text(rng, words, lo, hi):
    return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))


def make_rte(wd):
    d = os.path.join(wd, "rte_data", "glue", "RTE")
    os.makedirs(d, exist_ok=True)
    dev = os.path.join(SHARED, "data", "glue", "RTE", "dev.tsv")
    if not os.path.exists(dev):
        return None
    shutil.copy(dev, os.path.join(d, "dev.tsv"))
    # the few-shot split: the dev file's rows from TRAIN_FROM on (real RTE
    # text, never among the --limit documents evaluated)
    with open(dev) as f:
        lines = f.readlines()
    with open(os.path.join(d, "train.tsv"), "w") as f:
        f.writelines([lines[0]] + lines[1 + TRAIN_FROM:])
    return os.path.join(wd, "rte_data")


TRAIN_FROM = 200

MMLU_SUBJECTS = ["anatomy", "astronomy", "college_biology", "philosophy"]


def make_mmlu(wd, words, per_subject):
    rng = random.Random(14)
    base = os.path.join(wd, "mmlu_data", "mmlu", "data")
    for split in ("dev", "test"):
        os.makedirs(os.path.join(base, split), exist_ok=True)
    for s in MMLU_SUBJECTS:
        for split, n in (("dev", 5), ("test", per_subject)):
            with open(os.path.join(base, split, f"{s}_{split}.csv"), "w") as f:
                for _ in range(n):
                    row = [text(rng, words, 15, 75).capitalize() + "?"] + [text(rng, words, 1, 9) for _ in range(4)]
                    row.append("ABCD"[rng.randrange(4)])
                    f.write(",".join(row) + "\n")
    return os.path.join(wd, "mmlu_data")


def make_hellaswag(wd, words, n_val):
    rng = random.Random(10)
    d = os.path.join(wd, "hs_data", "hellaswag")
    os.makedirs(d, exist_ok=True)
    for split, n in (("train", 200), ("val", n_val)):
        with open(os.path.join(d, f"hellaswag_{split}.jsonl"), "w") as f:
            for i in range(n):
                a, b = text(rng, words, 8, 30).capitalize() + ".", text(rng, words, 2, 6)
                rec = {"ind": i, "activity_label": text(rng, words, 1, 3).capitalize(), "ctx_a": a, "ctx_b": b,
                       "ctx": a + " " + b, "split": split, "split_type": "indomain", "label": rng.randrange(4),
                       "endings": [text(rng, words, 5, 15) + "." for _ in range(4)],
                       "source_id": f"synthetic~{i}"}
                f.write(json.dumps(rec) + "\n")
    return os.path.join(wd, "hs_data")


def run_once(model, args, cache_mb):
    cmd = [YS_BIN[0], "run", "--model", model, "--no-db", "--threads", "2"] + args
    if cache_mb is not None:   # None: the default budget
        cmd += ["--prefix-cache-mb", str(cache_mb)]
    t0, r0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall, r1 = time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)}\n{p.stderr}")
    m = re.search(r"prompt tokens (\d+): computed (\d+), served from the prefix cache (\d+) \(([\d.]+)%\), "
                  r"shared with the request before (\d+)", p.stderr)
    tok = dict(zip(["input", "computed", "served", "served_pct", "shared"],
                   [int(m.group(1)), int(m.group(2)), int(m.group(3)), float(m.group(4)), int(m.group(5))]))
    return wall, cpu, tok, p.stdout


def workload(name, model, args, repeat, on_mb):
    log(f"== {name}: yardstick run {' '.join(args)}")
    rows = []
    for r in range(repeat):
        res = {}
        order = [("off", 0), ("on", on_mb)] if r % 2 == 0 else [("on", on_mb), ("off", 0)]
        for label, mb in order:
            wall, cpu, tok, out = run_once(model, args, mb)
            res[label] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "tokens": tok, "stdout": out}
            log(f"   rep {r + 1} cache {label:3s}: {wall:7.1f} s wall, {cpu:7.1f} s CPU  {tok}")
        if res["off"]["stdout"] != res["on"]["stdout"]:
            raise SystemExit(f"{name}: results differ with and without the prefix cache")
        rows.append({"off_s": res["off"]["wall_s"], "on_s": res["on"]["wall_s"],
                     "speedup": round(res["off"]["wall_s"] / res["on"]["wall_s"], 2),
                     "off_cpu_s": res["off"]["cpu_s"], "on_cpu_s": res["on"]["cpu_s"],
                     "cpu_ratio": round(res["off"]["cpu_s"] / res["on"]["cpu_s"], 2),
                     "tokens_off": res["off"]["tokens"], "tokens_on": res["on"]["tokens"]})
    sp = [x["speedup"] for x in rows]
    cr = [x["cpu_ratio"] for x in rows]
    summary = {"workload": name, "args": args, "repeats": rows, "speedup_median": statistics.median(sp),
               "speedup_min": min(sp), "speedup_max": max(sp),
               "cpu_ratio_median": statistics.median(cr), "cpu_ratio_min": min(cr), "cpu_ratio_max": max(cr),
               "served_pct": rows[0]["tokens_on"]["served_pct"],
               "computed_on_pct": round(100.0 * rows[0]["tokens_on"]["computed"] / rows[0]["tokens_on"]["input"], 1),
               "computed_off_pct": round(100.0 * rows[0]["tokens_off"]["computed"] / rows[0]["tokens_off"]["input"], 1)}
    log(f"   wall speedup median {summary['speedup_median']} (min {min(sp)}, max {max(sp)}); CPU-time ratio median "
        f"{summary['cpu_ratio_median']} (min {min(cr)}, max {max(cr)}); "
        f"served from the cache {summary['served_pct']}% of prompt tokens")
    return summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/tmp/ys_gpt2s")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workloads", default="rte,mmlu,hellaswag")
    ap.add_argument("--workdir", default="/tmp/ys_prefix_bench")
    ap.add_argument("--rte-limit", type=int, default=60)
    ap.add_argument("--mmlu-per-subject", type=int, default=25)
    ap.add_argument("--hellaswag-docs", type=int, default=20)
    ap.add_argument("--cache-mb", type=int, default=-1, help="budget of the 'on' runs (-1: the default)")
    ap.add_argument("--json")
    ap.add_argument("--yardstick", default=YS, help="the binary (default build/eval/yardstick)")
    a = ap.parse_args()
    YS_BIN[0] = a.yardstick
    if not os.path.exists(a.model):
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_gpt2_small.py"), a.model], check=True)
    os.makedirs(a.workdir, exist_ok=True)
    words = words_from_vocab(a.model)
    on_mb = a.cache_mb if a.cache_mb >= 0 else None
    out = {"model": a.model, "machine": os.uname().nodename, "nproc": os.cpu_count(), "loadavg_start": os.getloadavg(),
           "results": []}

    todo = a.workloads.split(",")
    if "rte" in todo:
        dd = make_rte(a.workdir)
        if dd is None:
            log("rte: ../shared/data/glue/RTE/dev.tsv is absent: skipped")
        else:
            out["results"].append(workload(
                "rte 5-shot first_n", a.model,
                ["--tasks", "rte", "--data-dir", dd, "--num-fewshot", "5", "--fewshot-sampler", "first_n",
                 "--limit", str(a.rte_limit)], a.repeat, on_mb))
    if "mmlu" in todo:
        dd = make_mmlu(a.workdir, words, a.mmlu_per_subject)
        tasks = ",".join("mmlu_" + s for s in MMLU_SUBJECTS)
        r = workload("mmlu 5-shot (synthetic, %d subjects x %d)" % (len(MMLU_SUBJECTS), a.mmlu_per_subject), a.model,
                     ["--tasks", tasks, "--data-dir", dd, "--num-fewshot", "5"], a.repeat, on_mb)
        nq = len(MMLU_SUBJECTS) * a.mmlu_per_subject
        for k in ("off", "on"):
            per_q = statistics.median(x[k + "_s"] for x in r["repeats"]) / nq
            r["full_mmlu_%s_s" % k] = round(per_q * 14042)
        log(f"   full MMLU (14,042 questions), extrapolated: off {r['full_mmlu_off_s']} s, on {r['full_mmlu_on_s']} s")
        out["results"].append(r)
    if "hellaswag" in todo:
        dd = make_hellaswag(a.workdir, words, a.hellaswag_docs)
        for sampler in ("random", "first_n"):
            out["results"].append(workload(
                "hellaswag 10-shot %s (synthetic)" % sampler, a.model,
                ["--tasks", "hellaswag", "--data-dir", dd, "--num-fewshot", "10", "--fewshot-sampler", sampler],
                a.repeat, on_mb))
    out["loadavg_end"] = os.getloadavg()
    for r in out["results"]:
        for x in r["repeats"]:
            x["tokens_off"].pop("stdout", None)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    print(json.dumps([{k: v for k, v in r.items() if k != "repeats"} for r in out["results"]], indent=1))


if __name__ == "__main__":
    main()
