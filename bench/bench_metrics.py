#!/usr/bin/python3
"""Metrics benchmark: yardstick against the reference implementations, whole
process against whole process, in the same run on the same machine.

For each of BLEU, chrF, ROUGE (all four types, stemmed), METEOR and SQuAD
EM/F1 it scores N hypothesis/reference pairs of about 25 words with the
reference (sacrebleu's CLI; small Python drivers around rouge-score, NLTK
and the official SQuAD script) and with `yardstick score`, takes the best
wall time of --repeat runs of each, and reports the ratio and each process's
peak RSS. It then scores 10x the data with yardstick to show memory stays
flat, and last measures the process-start floor (/bin/true, `yardstick
--version`, and scoring one pair). The references are found through environment variables (see
tests/parity/gen/README.md for setting them up):

  SACREBLEU_DIR  ROUGE_SCORE_DIR  SQUAD_EVAL  NLTK_DATA

GNU time (/usr/bin/time, Debian package `time`) measures peak memory.

Usage (from the repository root, after building):
  SACREBLEU_DIR=... ROUGE_SCORE_DIR=... SQUAD_EVAL=... NLTK_DATA=... \\
      /usr/bin/python3 bench/bench_metrics.py [--pairs 3000] [--repeat 3]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

WORDS = ("the of and to in a is that for it as was with be by on not he i this are or his from at which "
         "but have an they you were her she there been one all we their has would when if so no will can "
         "more about said up out what some into than them could only other new then also after two first "
         "time years people way state government system market report company country world work school "
         "number group problem fact hand part place case week point home water room mother area money story "
         "month lot right study book eye job word business issue side kind head house service friend father "
         "power hour game line end member law car city community name president team minute idea kid body "
         "information back parent face others level office door health person art war history party result "
         "change morning reason research girl guy moment air teacher force education running jumped quickly "
         "happily decided announced increasing reported companies studies families decisions running").split()


def make_pairs(n, seed=1):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        ref = [rng.choice(WORDS) for _ in range(rng.randint(20, 30))]
        hyp = list(ref)
        for _ in range(rng.randint(2, 10)):  # edit the reference a little
            op = rng.random()
            k = rng.randrange(len(hyp))
            if op < 0.4:
                hyp[k] = rng.choice(WORDS)
            elif op < 0.7 and len(hyp) > 5:
                del hyp[k]
            else:
                hyp.insert(k, rng.choice(WORDS))
        hs = " ".join(hyp).capitalize() + "."
        rs = " ".join(ref).capitalize() + "."
        pairs.append((hs, rs))
    return pairs


def run(cmd, env=None):
    """Wall time of one whole process."""
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{p.stderr.decode()}")
    return wall


def peak_rss(cmd, env=None):
    """Peak RSS (MB) from GNU time, in a run of its own so that time's own
    fork and exec do not count in the timings. (A child's ru_maxrss seen from
    Python would include the Python process it was forked from.)"""
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{p.stderr.decode()}")
    return int(p.stderr.decode().strip().splitlines()[-1]) / 1024.0


def best(cmd, repeat, env=None):
    return min(run(cmd, env) for _ in range(repeat)), peak_rss(cmd, env)


ROUGE_DRIVER = """
import json, sys
from rouge_score import rouge_scorer
sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
tot = {}
n = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    s = sc.score_multi(d["references"], d["prediction"])
    for k, v in s.items():
        tot[k] = tot.get(k, 0.0) + v.fmeasure
    n += 1
print(json.dumps({k: v / n for k, v in tot.items()}))
"""

METEOR_DRIVER = """
import json, sys
from nltk.translate.meteor_score import meteor_score
tot = n = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    tot += meteor_score([r.split(" ") for r in d["references"]], d["prediction"].split(" "))
    n += 1
print(json.dumps({"meteor": tot / n}))
"""

SQUAD_DRIVER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("squad_eval", sys.argv[2])
m = importlib.util.module_from_spec(spec)
sys.argv = sys.argv[:1]
spec.loader.exec_module(m)
em = f1 = n = 0
for line in open(sys.argv[0] if False else IN):
    d = json.loads(line)
    em += m.metric_max_over_ground_truths(m.exact_match_score, d["prediction"], d["references"])
    f1 += m.metric_max_over_ground_truths(m.f1_score, d["prediction"], d["references"])
    n += 1
print(json.dumps({"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--yardstick", default="build/eval/yardstick")
    args = ap.parse_args()
    need = ["SACREBLEU_DIR", "ROUGE_SCORE_DIR", "SQUAD_EVAL", "NLTK_DATA"]
    missing = [v for v in need if not os.environ.get(v)]
    if missing:
        sys.exit("set " + ", ".join(missing) + " (see tests/parity/gen/README.md)")
    ys = os.path.abspath(args.yardstick)
    tmp = tempfile.mkdtemp(prefix="ys_bench_")

    def write(n, tag):
        pairs = make_pairs(n)
        paths = {k: os.path.join(tmp, f"{tag}.{k}") for k in ("hyp", "ref", "jsonl")}
        with open(paths["hyp"], "w") as h, open(paths["ref"], "w") as r, open(paths["jsonl"], "w") as j:
            for hs, rs in pairs:
                h.write(hs + "\n")
                r.write(rs + "\n")
                j.write(json.dumps({"prediction": hs, "references": [rs]}) + "\n")
        return paths

    small = write(args.pairs, "small")
    big = write(args.pairs * 10, "big")
    py = "/usr/bin/python3"
    env_sb = dict(os.environ, PYTHONPATH=os.environ["SACREBLEU_DIR"])
    env_rs = dict(os.environ, PYTHONPATH=os.environ["ROUGE_SCORE_DIR"])
    squad_driver = SQUAD_DRIVER.replace("IN", repr(small["jsonl"]))

    cases = [
        ("BLEU", "sacrebleu 2.6.0 CLI",
         [py, "-m", "sacrebleu", small["ref"], "-i", small["hyp"], "-m", "bleu"], env_sb,
         [ys, "score", "bleu", "-i", small["hyp"], "-r", small["ref"]],
         [ys, "score", "bleu", "-i", big["hyp"], "-r", big["ref"]]),
        ("chrF", "sacrebleu 2.6.0 CLI",
         [py, "-m", "sacrebleu", small["ref"], "-i", small["hyp"], "-m", "chrf"], env_sb,
         [ys, "score", "chrf", "-i", small["hyp"], "-r", small["ref"]],
         [ys, "score", "chrf", "-i", big["hyp"], "-r", big["ref"]]),
        ("ROUGE 1/2/L/Lsum, stemmed", "rouge-score 0.1.2",
         [py, "-c", ROUGE_DRIVER, small["jsonl"]], env_rs,
         [ys, "score", "--input", small["jsonl"], "--metrics", "rouge", "--rouge-stem"],
         [ys, "score", "--input", big["jsonl"], "--metrics", "rouge", "--rouge-stem"]),
        ("METEOR", "NLTK 3.8",
         [py, "-c", METEOR_DRIVER, small["jsonl"]], os.environ,
         [ys, "score", "--input", small["jsonl"], "--metrics", "meteor"],
         [ys, "score", "--input", big["jsonl"], "--metrics", "meteor"]),
        ("SQuAD EM/F1", "evaluate-v1.1.py",
         [py, "-c", squad_driver, "x", os.environ["SQUAD_EVAL"]], os.environ,
         [ys, "score", "--input", small["jsonl"], "--metrics", "squad"],
         [ys, "score", "--input", big["jsonl"], "--metrics", "squad"]),
    ]
    print(f"{args.pairs} pairs (best of {args.repeat} runs each; RSS = peak resident set)\n")
    print("| metric | reference | reference s | yardstick s | speed-up | ref RSS MB | ys RSS MB | ys RSS MB, 10x data |")
    print("|---|---|---|---|---|---|---|---|")
    for name, refname, rcmd, renv, ycmd, ybig in cases:
        rt, rm = best(rcmd, args.repeat, renv)
        yt, ym = best(ycmd, args.repeat)
        _, ybm = best(ybig, 1)
        print(f"| {name} | {refname} | {rt:.3f} | {yt:.4f} | {rt / yt:.0f}x | {rm:.0f} | {ym:.1f} | {ybm:.1f} |",
              flush=True)
    # The floor under every yardstick figure: starting a process at all.
    # /bin/true is a minimal dynamically linked C program; `--version` adds
    # loading yardstick and its libraries; one pair adds scoring setup.
    one = write(1, "one")
    floor = [("/bin/true", ["/bin/true"]), ("yardstick --version", [ys, "--version"]),
             ("yardstick score bleu, 1 pair", [ys, "score", "bleu", "-i", one["hyp"], "-r", one["ref"]])]
    print("\nprocess start (best of %d): " % (args.repeat * 4) +
          ", ".join(f"{label} {min(run(cmd) for _ in range(args.repeat * 4)) * 1e3:.1f} ms" for label, cmd in floor))


if __name__ == "__main__":
    main()
