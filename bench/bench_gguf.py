#!/usr/bin/python3
"""GGUF files: yardstick against llama.cpp on the same files (issue 13's
Performance section), decode and scoring, same run.

    LLAMA_CPP_DIR=/tmp/llama.cpp bench/prio.sh /usr/bin/python3 bench/bench_gguf.py \\
        --build BUILD --threads 1 --repeat 3 F32=f32.gguf Q8_0=q8.gguf Q4_0=q4.gguf ...

For each file, interleaved over the repetitions (the order rotated, so
drift in the machine's load spreads over all):
  yardstick  generate --max-tokens 1 and 1 + 128 (decode tok/s from the
             difference: load and prompt excluded; wall and per CPU
             second), logprobs of a 1024-token window of WikiText-2 test
             (scoring tok/s, the load subtracted);
  llama.cpp  llama-bench -p 0 -n 128 (tg tok/s), llama-perplexity -c 1024
             --chunks 1 (its prompt eval tok/s)
(bench_quant.py's measurements, reused; --decode-only leaves out the
scoring runs). Prints a JSON object with every
repetition and a markdown table of medians, with the ratios
yardstick / llama.cpp taken within each repetition (min-max beside).
The tokenizer of the first file cuts the window.

--int8 adds, in the same interleaved repetitions, yardstick's scoring of
the window with `--compute int8` (generate --max-tokens 1 with it for the
load to subtract), a second table of it against llama-perplexity and the
default arithmetic, and (once per file, after the timings) its error
against the default: `yardstick kld --base F --model F --compute int8` on
the first --int8-error-bytes bytes of the text (max |Δ log-prob| from the
per-token nll, mean KLD, same top token).
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_quant as bq  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="NAME=FILE.gguf")
    ap.add_argument("--build", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--text", default=os.path.join(bq.SHARED, "data", "lm", "wikitext-2", "test.txt"))
    ap.add_argument("--workdir", default="/tmp/ys_bgguf")
    ap.add_argument("--ys-opts", default="", help="extra yardstick options, e.g. '--compute int8'")
    ap.add_argument("--json")
    ap.add_argument("--decode-only", action="store_true", help="decode only (no scoring runs)")
    ap.add_argument("--int8", action="store_true", help="also --compute int8 scoring, and its error")
    ap.add_argument("--int8-error-bytes", type=int, default=100000)
    args = ap.parse_args()
    lcpp = os.environ.get("LLAMA_CPP_DIR")
    if not lcpp:
        sys.exit("set LLAMA_CPP_DIR to a llama.cpp tree built in $LLAMA_CPP_DIR/build")
    ys = os.path.join(args.build, "eval", "yardstick")
    files = [f.split("=", 1) for f in args.files]
    os.makedirs(args.workdir, exist_ok=True)
    _, out, _, _ = bq.run([ys, "tokenize", "--model", files[0][1], "--json", "--no-special-tokens", "--file",
                           args.text])
    ids = json.loads(out)["ids"]
    win = os.path.join(args.workdir, "win.ids")
    with open(win, "w") as f:
        f.write(" ".join(map(str, ids[:bq.SEQ])) + "\n")
    jobs = [(k, n) for n, _ in files for k in (("ys", "lc", "i8") if args.int8 else ("ys", "lc"))]
    reps = []
    for r in range(args.repeat):
        rep = {"loadavg_start": bq.loadavg(), "ys": {}, "lc": {}, "i8": {}}
        order = jobs[r % len(jobs):] + jobs[:r % len(jobs)]
        for kind, name in order:
            path = dict(files)[name]
            bq.log(f"rep {r + 1}/{args.repeat}: {kind} {name} (load {bq.loadavg():.1f})")
            if kind == "i8":
                rep["i8"][name] = int8_measure(ys, path, win, ids[0], args.threads)
            elif kind == "ys":
                rep["ys"][name] = bq.ys_measure(ys, path, args.ys_opts.split(), win, ids[0], args.threads,
                                                 args.decode_only)
            else:
                rep["lc"][name] = bq.lc_measure(lcpp, path, args.text, args.threads, None, args.decode_only)
        rep["loadavg_end"] = bq.loadavg()
        reps.append(rep)
        if args.json:
            with open(args.json + ".partial", "w") as f:
                json.dump({"threads": args.threads, "reps": reps}, f, indent=1)
    res = {"threads": args.threads, "ys_opts": args.ys_opts, "reps": reps}
    if args.int8:
        res["int8_error"] = {n: int8_error(ys, p, args.text, args.int8_error_bytes, args.workdir) for n, p in files}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)

    def med(xs):
        return statistics.median(xs), min(xs), max(xs)

    print(f"threads {args.threads}, {args.repeat} repetitions, load average "
          f"{min(r['loadavg_start'] for r in reps):.1f}-{max(r['loadavg_end'] for r in reps):.1f}")
    print("| file | ys decode tok/s (wall) | ys decode tok/CPU-s | llama.cpp tg tok/s | decode ratio (min-max) "
          "| ys scoring tok/s | llama-perplexity tok/s | scoring ratio (min-max) |")
    print("|---|---|---|---|---|---|---|---|")
    for n, _ in files:
        yd = med([r["ys"][n]["decode_tps"] for r in reps])
        yc = med([r["ys"][n]["decode_tok_per_cpu_s"] for r in reps])
        lt = med([r["lc"][n]["tg_tps"] for r in reps])
        dr = med([r["ys"][n]["decode_tps"] / r["lc"][n]["tg_tps"] for r in reps])
        line = f"| {n} | {yd[0]:.1f} | {yc[0]:.1f} | {lt[0]:.1f} | {dr[0]:.2f}x ({dr[1]:.2f}-{dr[2]:.2f}) "
        if args.decode_only:
            print(line + "| — | — | — |")
            continue
        ys_ = med([r["ys"][n]["score_tps"] for r in reps])
        lp = med([r["lc"][n]["ppl_tps"] for r in reps])
        sr = med([r["ys"][n]["score_tps"] / r["lc"][n]["ppl_tps"] for r in reps])
        print(line + f"| {ys_[0]:.0f} | {lp[0]:.0f} | {sr[0]:.2f}x ({sr[1]:.2f}-{sr[2]:.2f}) |")

    if args.int8:
        int8_report(files, reps, res["int8_error"])


def int8_measure(ys, path, win, prompt_id, threads):
    """--compute int8 scoring of the window: wall and CPU, the load (a
    1-token generate with the same options) subtracted."""
    opts = ["--compute", "int8", "--threads", str(threads)]
    w1, _, _, _ = bq.run([ys, "generate", "--model", path, "--prompt-ids", str(prompt_id), "--max-tokens", "1"] + opts)
    c1 = bq.run.cpu
    ws, _, _, rss = bq.run([ys, "logprobs", "--model", path, "--ids", win] + opts)
    cs = bq.run.cpu
    return {"load_s": w1, "score_wall": ws, "score_tps": bq.SEQ / max(ws - w1, 1e-6),
            "score_tok_per_cpu_s": bq.SEQ / max(cs - c1, 1e-6), "rss_score_mb": rss}


def int8_error(ys, path, text, nbytes, workdir):
    """--compute int8 against the default on the same file: kld of the
    text's first nbytes bytes (kld's default: 1024-token windows)."""
    head = os.path.join(workdir, f"head{nbytes}.txt")
    with open(text, "rb") as f, open(head, "wb") as g:
        g.write(f.read(nbytes))
    bq.log(f"int8 error: {path}")
    _, out, _, _ = bq.run([ys, "kld", "--base", path, "--model", path, "--compute", "int8", "--text", head,
                           "--json", "--per-token", "--threads", "2"])
    j = json.loads(out)
    toks = j.get("tokens") or j.get("per_token") or []
    dl = [abs(t["nll"] - t["nll_base"]) for t in toks]
    s = j["summary"]
    return {"positions": s["positions"], "kld_mean": s["kld"]["mean"], "kld_max": s["kld"]["max"],
            "max_abs_dlogprob": max(dl) if dl else None, "mean_abs_dlogprob": sum(dl) / len(dl) if dl else None,
            "same_top": s["same_top"], "ppl_ratio": s["ppl_ratio"]["value"]}


def int8_report(files, reps, err):
    def med(xs):
        return statistics.median(xs), min(xs), max(xs)

    print()
    print("| file | ys scoring tok/s, default | ys scoring tok/s, --compute int8 | llama-perplexity tok/s "
          "| int8 / llama-perplexity (min-max) | int8 / default (min-max) | int8 tok/CPU-s |")
    print("|---|---|---|---|---|---|---|")
    for n, _ in files:
        d = med([r["ys"][n]["score_tps"] for r in reps])
        i = med([r["i8"][n]["score_tps"] for r in reps])
        lp = med([r["lc"][n]["ppl_tps"] for r in reps])
        ri = med([r["i8"][n]["score_tps"] / r["lc"][n]["ppl_tps"] for r in reps])
        rd = med([r["i8"][n]["score_tps"] / r["ys"][n]["score_tps"] for r in reps])
        ic = med([r["i8"][n]["score_tok_per_cpu_s"] for r in reps])
        print(f"| {n} | {d[0]:.0f} | {i[0]:.0f} | {lp[0]:.0f} | {ri[0]:.2f}x ({ri[1]:.2f}-{ri[2]:.2f}) "
              f"| {rd[0]:.2f}x ({rd[1]:.2f}-{rd[2]:.2f}) | {ic[0]:.0f} |")
    print()
    print("| file | positions | max \|Δ log-prob\| | mean \|Δ log-prob\| | mean KLD | max KLD | same top token "
          "| PPL ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for n, _ in files:
        e = err[n]
        st = e["same_top"]
        st = st.get("value", st.get("share")) if isinstance(st, dict) else st
        print(f"| {n} | {e['positions']} | {e['max_abs_dlogprob']:.3g} | {e['mean_abs_dlogprob']:.3g} "
              f"| {e['kld_mean']:.3g} | {e['kld_max']:.3g} | {100 * st:.1f}% | {e['ppl_ratio']:.5f} |")


if __name__ == "__main__":
    main()
