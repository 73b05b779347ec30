#!/usr/bin/python3
"""What quantization costs, measured twice: `yardstick kld` beside llama.cpp's
`llama-perplexity --kl-divergence` on the same weights and the same text
(issue 12's and issue 13's KL-divergence comparisons). Not a speed figure.

    LLAMA_CPP_DIR=/tmp/llama.cpp /usr/bin/python3 bench/bench_kld.py \\
        --model /tmp/ys_gpt2s --build BUILD [--bytes 100000] [--ctx 1024] [--json out.json]

--model is an F32 GPT-2 folder (bench/make_gpt2_small.py). The script
  1. cuts the first --bytes of WikiText-2 test (at a line end) into
     WORK/wiki.txt, the text both tools score;
  2. writes WORK/F32.gguf with bench/to_gguf.py (llama.cpp's gguf-py) and
     makes F16, Q8_0, Q4_0 and Q4_K_M from it with llama-quantize;
  3. llama.cpp: llama-perplexity -c CTX on each base (F32, F16) with
     --kl-divergence-base (its logits file), then on each quantized file
     with --kl-divergence against that file;
  4. yardstick: `kld --text WORK/wiki.txt --ctx CTX --stride CTX/2 --json`
     on the same GGUF pairs (default arithmetic; again with --compute int8
     where the build has it), and the F32 folder against itself with
     --quantize int8 / int4 (groups of 32 and 128) — yardstick's own
     round-to-nearest quantization, the issue-12 comparison;
  5. prints one table: mean KLD (± its uncertainty), median, 99% and
     maximum KLD, RMS Δp, same top token, ln(PPL(Q)/PPL(base)).

The two tools do not score the same positions: llama.cpp cuts the text
into chunks of CTX tokens that do not overlap, puts BOS first when the
vocabulary asks for it, and scores each chunk's second half; yardstick
scores every token once with windows of CTX moving by CTX/2 (README, "A
model against its base"). Means over thousands of positions are
comparable; single positions are not.
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHARED = os.environ.get("YS_SHARED_DIR", os.path.join(ROOT, "..", "shared"))

LC_PATTERNS = {
    "kld_mean": r"Mean\s+KLD:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+nan]+)",
    "kld_max": r"Maximum KLD:\s*([-\d.eE+]+)",
    "kld_99": r"99\.0%\s+KLD:\s*([-\d.eE+]+)",
    "kld_median": r"Median\s+KLD:\s*([-\d.eE+]+)",
    "rms_dp": r"RMS Δp\s*:\s*([-\d.eE+]+)\s*±",
    "same_top": r"Same top p:\s*([-\d.eE+]+)\s*±",
    "ln_ratio": r"Mean ln\(PPL\(Q\)/PPL\(base\)\)\s*:\s*([-\d.eE+]+)",
}


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p.stdout, p.stderr


def cut_text(src, dst, nbytes):
    with open(src, "rb") as f:
        b = f.read(nbytes)
    b = b[: b.rfind(b"\n") + 1]
    with open(dst, "wb") as f:
        f.write(b)


def lc_stats(text):
    out = {}
    for k, pat in LC_PATTERNS.items():
        m = re.search(pat, text)
        if m:
            out[k] = float(m.group(1))
            if k == "kld_mean":
                out["kld_unc"] = float(m.group(2))
    for k in ("rms_dp", "same_top"):   # printed in percent
        if k in out:
            out[k] /= 100.0
    return out


def ys_stats(js):
    s = js["summary"]
    return {"positions": s["positions"], "kld_mean": s["kld"]["mean"], "kld_unc": s["kld"]["unc"],
            "kld_median": s["kld"]["median"], "kld_99": s["kld"]["percentiles"]["99.0"], "kld_max": s["kld"]["max"],
            "rms_dp": s["p_diff_rms"]["value"], "same_top": s["same_top"]["value"],
            "ln_ratio": s["ln_ppl_ratio"]["value"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="F32 GPT-2 folder")
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", default="/tmp/ys_kldbench")
    ap.add_argument("--text", default=os.path.join(SHARED, "data", "lm", "wikitext-2", "test.txt"))
    ap.add_argument("--bytes", type=int, default=100000)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=("llama.cpp", "yardstick"), help="run one tool's part")
    ap.add_argument("--json")
    a = ap.parse_args()
    lcpp = os.environ.get("LLAMA_CPP_DIR")
    if not lcpp:
        sys.exit("set LLAMA_CPP_DIR to a llama.cpp tree built in $LLAMA_CPP_DIR/build")
    ys = os.path.join(a.build, "eval", "yardstick")
    bin_ = os.path.join(lcpp, "build", "bin")
    os.makedirs(a.work, exist_ok=True)
    W = lambda n: os.path.join(a.work, n)  # noqa: E731
    cut_text(a.text, W("wiki.txt"), a.bytes)

    # the files
    if not os.path.exists(W("F32.gguf")):
        run(["/usr/bin/python3", os.path.join(ROOT, "bench", "to_gguf.py"), a.model, W("F32.gguf")],
            env=dict(os.environ, PYTHONPATH=os.path.join(lcpp, "gguf-py")))
    for q in ("F16", "Q8_0", "Q4_0", "Q4_K_M"):
        if not os.path.exists(W(q + ".gguf")):
            run([os.path.join(bin_, "llama-quantize"), W("F32.gguf"), W(q + ".gguf"), q, str(a.threads)])

    res = {"bytes": os.path.getsize(W("wiki.txt")), "ctx": a.ctx, "rows": []}
    pairs = [("F16", "Q8_0"), ("F16", "Q4_K_M"), ("F32", "Q8_0"), ("F32", "Q4_0"), ("F32", "Q4_K_M")]

    # llama.cpp
    for base in (() if a.only == "yardstick" else ("F32", "F16")):
        logits = W(f"base_{base}.kld")
        run([os.path.join(bin_, "llama-perplexity"), "-m", W(base + ".gguf"), "-f", W("wiki.txt"), "-c", str(a.ctx),
             "-t", str(a.threads), "--kl-divergence-base", logits])
        for b, q in pairs:
            if b != base:
                continue
            out, err = run([os.path.join(bin_, "llama-perplexity"), "-m", W(q + ".gguf"), "-t", str(a.threads),
                            "-c", str(a.ctx), "--kl-divergence-base", logits, "--kl-divergence"])
            err = out + err   # its statistics go to stdout, its progress to stderr
            with open(W(f"llama_{base}_{q}.log"), "w") as fh:
                fh.write(err)
            st = lc_stats(err)
            # one line per chunk under its "chunk PPL ..." header; each
            # chunk scores ctx - 1 - ctx/2 positions
            nchunks = len(re.findall(r"(?m)^\s*\d+\s+[\d.]+\s+±", err))
            st["positions"] = nchunks * (a.ctx - a.ctx // 2 - 1) or None
            res["rows"].append({"tool": "llama.cpp", "base": base, "model": q, "how": "its arithmetic", **st})
            print(json.dumps(res["rows"][-1]), flush=True)
        os.remove(logits)

    # yardstick on the same files
    def ykld(base, model, extra, tool, label, how):
        try:
            out, _ = run([ys, "kld", "--base", base, "--model", model, *extra, "--text", W("wiki.txt"),
                          "--ctx", str(a.ctx), "--stride", str(a.ctx // 2), "--threads", str(a.threads), "--json"])
        except RuntimeError as e:
            print(f"skipped {label} {how}: {str(e).splitlines()[-1]}", flush=True)
            return
        res["rows"].append({"tool": tool, "base": os.path.basename(base).replace(".gguf", ""), "model": label,
                            "how": how, **ys_stats(json.loads(out))})
        print(json.dumps(res["rows"][-1]), flush=True)

    for b, q in (() if a.only == "llama.cpp" else pairs):
        ykld(W(b + ".gguf"), W(q + ".gguf"), [], "yardstick", q, "default (fp32 activations)")
        ykld(W(b + ".gguf"), W(q + ".gguf"), ["--compute", "int8"], "yardstick", q, "--compute int8")
    for qq, extra in (() if a.only == "llama.cpp" else (("int8", ["--quantize", "int8"]), ("int4 g32", ["--quantize", "int4", "--group-size", "32"]),
                      ("int4 g128", ["--quantize", "int4", "--group-size", "128"]),
                      ("int4-sym g32", ["--quantize", "int4-sym", "--group-size", "32"]))):
        ykld(a.model, a.model, extra, "yardstick", qq, "default (fp32 activations)")
        ykld(a.model, a.model, extra + ["--compute", "int8"], "yardstick", qq, "--compute int8")
    for r in res["rows"]:
        if r["tool"] == "yardstick" and r["base"] == os.path.basename(a.model.rstrip("/")):
            r["base"] = "F32 folder"

    print(f"\nWikiText-2 test, first {res['bytes']:,} bytes; ctx {a.ctx}; {a.threads} threads\n")
    print("| base | model | tool, arithmetic | positions | mean KLD ± unc. | median | 99% | max | RMS Δp | same top | ln(PPL(Q)/PPL(base)) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in res["rows"]:
        f = lambda k, fmt: (fmt % r[k]) if r.get(k) is not None else "—"  # noqa: E731
        print(f"| {r['base']} | {r['model']} | {r['tool']}, {r['how']} | {r.get('positions') or '—'} | "
              f"{f('kld_mean', '%.6f')} ± {f('kld_unc', '%.6f')} | {f('kld_median', '%.6f')} | {f('kld_99', '%.6f')} | "
              f"{f('kld_max', '%.5f')} | {100 * r['rms_dp']:.3f}% | {100 * r['same_top']:.2f}% | {f('ln_ratio', '%.6f')} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
