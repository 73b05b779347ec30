#!/usr/bin/python3
"""Batched generation benchmark (issue 14): requests/s of yardstick's
continuous batching at batch 1, 16 and 64 against batch 1, and against
PyTorch's HF-style left-padded batched greedy decoding, on the same
GPT-2-small-shaped random weights; a T5-small-shaped model on a
summarization-shaped workload at batch 16 against 1. One run, one machine.

  workload   SQuAD-style prompts from ../shared/data/squad/xquad/xquad.en.json:
             "Background: " + the paragraph's first 200 GPT-2 tokens +
             "\\n\\nQuestion: ...\\n\\nAnswer:" (about 220 tokens), 512 of them
             (--requests), exactly 32 new tokens each (--new; no early stop, so
             both sides do the same work)
  yardstick  bench/gen_throughput.c (model.h's model_batch; the model loaded
             once per process, load time not counted), --threads 2
  PyTorch    1.13, float32, no_grad, torch.set_num_threads(2): HF GPT-2 eager
             layout restated; the requests in chunks of B, each chunk left-
             padded (pad = EOS), attention_mask and position_ids as HF's
             prepare_inputs_for_generation (cumsum - 1), one prefill call, then
             one call per token with a torch.cat KV cache, argmax
  batch 1    on the first --b1-requests requests (default 32: one at a time the
             full 512 would take many minutes per side, PyTorch's most);
             requests/s are rates, so the ratios stay comparable
  T5         bench_seq2seq.py's T5-small-shaped random checkpoint, sources
             "summarize: " + the paragraph (T5 tokenizer, cut to 256 tokens),
             64 new tokens each (min_new_tokens = 64: EOS cannot end it),
             s2s_gen_batch at batch 16 (--t5-requests, 256) against 1 (the
             first --b1-requests)

Each repetition runs yardstick then PyTorch; the report gives the median and
the range of each figure and of each ratio computed within a repetition (the
machine is shared: ratios of the same repetition are the fair comparison).
gen_throughput also checks that every request's ids are the same at every
batch size ("same"), and the script reports how many requests PyTorch's
padded decoding generated the same 32 ids for (left padding changes the
float32 sums, so a few may differ after a near-tie).

Usage (from the repository root):
  /usr/bin/python3 bench/make_gpt2_small.py /tmp/ys_gpt2s
  /usr/bin/python3 bench/bench_batch.py [--build build-rel] [--repeat 3] [--json out.json] [--skip-torch]
"""
import argparse
import gzip
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
XQUAD = os.path.join(ROOT, "..", "shared", "data", "squad", "xquad", "xquad.en.json")
T5_TOKENIZER = os.path.join(ROOT, "..", "shared", "tokenizers", "t5", "tokenizer.json.gz")
TORCH_MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 36)}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def tokenize(ys, model, texts, special):
    # (yardstick's tokenizer: bit-exact with Hugging Face tokenizers, tested)
    """Token ids of each text with yardstick's tokenizer of model."""
    path = "/tmp/ys_bench_batch_tok.jsonl"
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "add_special_tokens": special}) + "\n")
    out = subprocess.run([ys, "tokenize", "--model", model, "--jsonl", path], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return [json.loads(line)["ids"] for line in out.splitlines()]


def squad_items(n):
    """(context, question) of the first n questions; a context is its
    paragraph followed by the article's next ones (so that ~200 tokens of it
    exist: most XQuAD paragraphs are shorter)."""
    with open(XQUAD) as f:
        data = json.load(f)["data"]
    items = []
    for art in data:
        pars = art["paragraphs"]
        for i, par in enumerate(pars):
            ctx = " ".join(p["context"] for p in (pars[i:] + pars[:i])[:4])
            for qa in par["qas"]:
                items.append((ctx, qa["question"]))
    return items[:n]


def gpt2_prompts(ys, model, n, path):
    items = squad_items(n)
    ctx = tokenize(ys, model, [c for c, _ in items], False)
    qs = tokenize(ys, model, ["\n\nQuestion: " + q + "\n\nAnswer:" for _, q in items], False)
    head = tokenize(ys, model, ["Background: "], False)[0]
    prompts = [head + c[:200] + q for c, q in zip(ctx, qs)]
    with open(path, "w") as f:
        for p in prompts:
            f.write(" ".join(map(str, p)) + "\n")
    return prompts


def t5_prompts(ys, model, n, path):
    tok = os.path.join(model, "tokenizer.json")
    if not os.path.exists(tok):
        with gzip.open(T5_TOKENIZER) as src, open(tok, "wb") as dst:
            shutil.copyfileobj(src, dst)
    items = squad_items(n)
    ids = tokenize(ys, model, ["summarize: " + c for c, _ in items], True)
    ids = [p[:255] + [1] if len(p) > 256 else p for p in ids]   # cut, keep the </s>
    with open(path, "w") as f:
        for p in ids:
            f.write(" ".join(map(str, p)) + "\n")
    return ids


def run_driver(exe, model, prompts, threads, new, specs, ids_out=None):
    env = dict(os.environ)
    if ids_out:
        env["GEN_THROUGHPUT_IDS"] = ids_out
    out = subprocess.run([exe, model, prompts, str(threads), str(new), *specs], check=True, stdout=subprocess.PIPE,
                         text=True, env=env).stdout
    return [json.loads(line) for line in out.splitlines()]


# ---------------------------------------------------------------- PyTorch

def torch_worker(model_dir, prompts_path, threads, new, specs, ids_out):
    import struct
    import torch
    import torch.nn.functional as Fn

    torch.set_num_threads(threads)
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = bytearray(f.read())
    W = {}
    for name, h in header.items():
        if name != "__metadata__":
            a, b = h["data_offsets"]
            W[name.removeprefix("transformer.")] = torch.frombuffer(data, dtype=torch.float32, offset=a,
                                                                    count=(b - a) // 4).view(h["shape"])
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    L, H, nh, eps, eos = cfg["n_layer"], cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"], cfg["eos_token_id"]
    hd = H // nh
    NEG = torch.finfo(torch.float32).min

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    def forward(ids, pos, mask, past):
        """ids [B, T] at positions pos [B, T], mask [B, S] over all keys
        (past + these), past: per layer (k, v) or None; HF GPT-2 eager."""
        B, T = ids.shape
        x = W["wte.weight"][ids] + W["wpe.weight"][pos]
        S = mask.shape[1]
        # causal (these T queries are the last T of S keys) + padding, additive
        causal = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        add = torch.zeros(B, 1, T, S).masked_fill(~causal, NEG)
        add = add + (1.0 - mask[:, None, None, :].float()) * NEG
        add = add.clamp(min=NEG)
        present = []
        for l in range(L):
            p = f"h.{l}."
            h = Fn.layer_norm(x, (H,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
            qkv = torch.addmm(W[p + "attn.c_attn.bias"], h.view(-1, H), W[p + "attn.c_attn.weight"]).view(B, T, 3 * H)
            q, k, v = (t.view(B, T, nh, hd).transpose(1, 2) for t in qkv.split(H, dim=2))
            if past is not None:
                k = torch.cat([past[l][0], k], dim=2)
                v = torch.cat([past[l][1], v], dim=2)
            present.append((k, v))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + add
            a = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B * T, H)
            x = x + torch.addmm(W[p + "attn.c_proj.bias"], a, W[p + "attn.c_proj.weight"]).view(B, T, H)
            h = Fn.layer_norm(x, (H,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
            m = gelu_new(torch.addmm(W[p + "mlp.c_fc.bias"], h.view(-1, H), W[p + "mlp.c_fc.weight"]))
            x = x + torch.addmm(W[p + "mlp.c_proj.bias"], m, W[p + "mlp.c_proj.weight"]).view(B, T, H)
        x = Fn.layer_norm(x[:, -1], (H,), W["ln_f.weight"], W["ln_f.bias"], eps)
        return torch.matmul(x, W["wte.weight"].t()), present

    def generate(chunk):
        B, T = len(chunk), max(len(p) for p in chunk)
        ids = torch.full((B, T), eos, dtype=torch.long)
        mask = torch.zeros(B, T, dtype=torch.long)
        for i, p in enumerate(chunk):   # left padding
            ids[i, T - len(p):] = torch.tensor(p)
            mask[i, T - len(p):] = 1
        pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
        logits, past = forward(ids, pos, mask, None)
        out = [logits.argmax(-1)]
        for _ in range(new - 1):
            mask = torch.cat([mask, torch.ones(B, 1, dtype=torch.long)], dim=1)
            pos = (mask.sum(-1, keepdim=True) - 1)
            logits, past = forward(out[-1][:, None], pos, mask, past)
            out.append(logits.argmax(-1))
        return torch.stack(out, dim=1).tolist()

    with open(prompts_path) as f:
        prompts = [[int(t) for t in line.split()] for line in f if line.strip()]
    res = []
    with torch.no_grad():
        generate(prompts[:2])   # warm-up
        for k, spec in enumerate(specs):
            B, _, N = spec.partition(":")
            B, N = int(B), int(N) if N else len(prompts)
            t0, c0 = time.perf_counter(), time.process_time()
            ids = []
            for i in range(0, N, B):
                ids += generate(prompts[i:min(i + B, N)])
            res.append({"batch": B, "requests": N, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0})
            if k == 0 and ids_out:
                with open(ids_out, "w") as f:
                    for r in ids:
                        f.write(" ".join(map(str, r)) + "\n")
    print(json.dumps(res))


# ---------------------------------------------------------------- report

def spread(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt(s, d=1):
    return f"{s['median']:.{d}f} ({s['min']:.{d}f}-{s['max']:.{d}f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-rel")
    ap.add_argument("--model", default="/tmp/ys_gpt2s")
    ap.add_argument("--t5", default="/tmp/ys_t5small")
    ap.add_argument("--requests", type=int, default=512)
    ap.add_argument("--b1-requests", type=int, default=32)
    ap.add_argument("--t5-requests", type=int, default=256)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-t5", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--torch-worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        model, prompts, new, ids_out = args.torch_worker
        specs = os.environ["BENCH_BATCH_SPECS"].split()
        torch_worker(model, prompts, args.threads, int(new), specs, ids_out)
        return

    build = os.path.join(ROOT, args.build) if not os.path.isabs(args.build) else args.build
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build, "-j2", "--target", "yardstick", "gen_throughput"], check=True,
                   stdout=subprocess.DEVNULL)
    ys, exe = os.path.join(build, "eval", "yardstick"), os.path.join(build, "bench", "gen_throughput")
    if not os.path.exists(os.path.join(args.model, "model.safetensors")):
        sys.exit(f"{args.model}: run bench/make_gpt2_small.py {args.model} first")
    prompts_path = "/tmp/ys_bench_batch_prompts.txt"
    prompts = gpt2_prompts(ys, args.model, args.requests, prompts_path)
    lens = [len(p) for p in prompts]
    log(f"{len(prompts)} prompts, {min(lens)}-{max(lens)} tokens (mean {sum(lens) / len(lens):.0f}), {args.new} new each")
    specs = [f"1:{args.b1_requests}", "16", "64"]
    if not args.skip_t5:
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        import bench_seq2seq
        bench_seq2seq.make_model(args.t5)
        t5_path = "/tmp/ys_bench_batch_t5.txt"
        t5p = t5_prompts(ys, args.t5, args.t5_requests, t5_path)
        log(f"T5: {len(t5p)} sources, {min(map(len, t5p))}-{max(map(len, t5p))} tokens, 64 new each")
    runs = []
    for r in range(args.repeat):
        rep = {}
        log(f"repetition {r + 1}/{args.repeat}: yardstick GPT-2 {specs}")
        rep["ys"] = run_driver(exe, args.model, prompts_path, args.threads, args.new, specs,
                               "/tmp/ys_bench_batch_ys_ids.txt" if r == 0 else None)
        log(json.dumps(rep["ys"]))
        if not args.skip_torch:
            log(f"repetition {r + 1}/{args.repeat}: PyTorch GPT-2 {specs}")
            env = dict(os.environ, **TORCH_MALLOC_ENV, BENCH_BATCH_SPECS=" ".join(specs))
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--torch-worker",
                                  args.model, prompts_path, str(args.new),
                                  "/tmp/ys_bench_batch_torch_ids.txt" if r == 0 else ""],
                                 check=True, stdout=subprocess.PIPE, text=True, env=env).stdout
            rep["torch"] = json.loads(out)
            log(json.dumps(rep["torch"]))
        if not args.skip_t5:
            log(f"repetition {r + 1}/{args.repeat}: yardstick T5")
            rep["t5"] = run_driver(exe, args.t5, t5_path, args.threads, 64, [f"1:{args.b1_requests}", "16"])
            log(json.dumps(rep["t5"]))
        runs.append(rep)
        if args.json:   # what is done so far, in case the run is cut short
            with open(args.json + ".partial", "w") as f:
                json.dump({"runs": runs}, f, indent=1)

    # requests/s per configuration and ratios within each repetition
    # (wall: what a user waits; cpu: the process's CPU seconds, all threads,
    # which other processes' load on a shared machine distorts much less)
    def rps(m, clock="wall"):
        return m["requests"] / m[clock]

    S = {}
    for clock in ("wall", "cpu"):
        c = "" if clock == "wall" else "_cpu"
        for side in ("ys", "torch", "t5"):
            if side not in runs[0]:
                continue
            for k in range(len(runs[0][side])):
                b = runs[0][side][k]["batch"]
                S[f"{side}_b{b}_rps{c}"] = spread([rps(rep[side][k], clock) for rep in runs])
                if k:
                    S[f"{side}_b{b}_vs_b1{c}"] = spread([rps(rep[side][k], clock) / rps(rep[side][0], clock)
                                                         for rep in runs])
        if "torch" in runs[0]:
            for k in range(len(specs)):
                b = runs[0]["ys"][k]["batch"]
                S[f"ys_vs_torch_b{b}{c}"] = spread([rps(rep["ys"][k], clock) / rps(rep["torch"][k], clock)
                                                    for rep in runs])
    for side in ("ys", "t5"):
        if side in runs[0]:
            S[f"{side}_same_ids"] = all(m["same"] for rep in runs for m in rep[side])
    if "torch" in runs[0]:
        with open("/tmp/ys_bench_batch_ys_ids.txt") as f:
            a = [line.split() for line in f]
        with open("/tmp/ys_bench_batch_torch_ids.txt") as f:
            t = [line.split() for line in f]
        S["torch_same_ids"] = sum(x == y for x, y in zip(a, t))
        S["torch_same_first_id"] = sum(x[:1] == y[:1] for x, y in zip(a, t))
        S["compared_requests"] = min(len(a), len(t))

    print(f"\nGPT-2-small-shaped, {len(prompts)} SQuAD-style requests (~{sum(lens) / len(lens):.0f} prompt tokens, "
          f"{args.new} new), {args.threads} threads, {args.repeat} repetitions: median (min-max)\n")
    for c, what in (("", "wall time"), ("_cpu", "process CPU time (all threads)")):
        print(f"requests per second of {what}:\n")
        print("| batch | yardstick req/s | vs batch 1 | PyTorch padded req/s | vs batch 1 | yardstick / PyTorch |")
        print("|---|---|---|---|---|---|")
        for k, sp in enumerate(specs):
            b = int(sp.split(":")[0])
            row = [str(b), fmt(S[f"ys_b{b}_rps{c}"], 2), "1" if k == 0 else fmt(S[f"ys_b{b}_vs_b1{c}"])]
            if "torch_b1_rps" in S:
                row += [fmt(S[f"torch_b{b}_rps{c}"], 2), "1" if k == 0 else fmt(S[f"torch_b{b}_vs_b1{c}"]),
                        fmt(S[f"ys_vs_torch_b{b}{c}"], 2)]
            else:
                row += ["-", "-", "-"]
            print("| " + " | ".join(row) + " |")
        print()
    print(f"\nyardstick ids identical at every batch size: {S['ys_same_ids']}")
    if "torch_same_ids" in S:
        print(f"PyTorch padded greedy gave the same {args.new} ids for {S['torch_same_ids']}/{S['compared_requests']} "
              f"requests (same first id: {S['torch_same_first_id']})")
    if "t5_b1_rps" in S:
        for c, what in (("", "wall"), ("_cpu", "CPU")):
            print(f"\nT5-small-shaped, summarization-shaped (sources <= 256 tokens, 64 new), {what}: batch 1 "
                  f"{fmt(S['t5_b1_rps' + c], 2)} req/s, batch 16 {fmt(S['t5_b16_rps' + c], 2)} req/s, "
                  f"ratio {fmt(S['t5_b16_vs_b1' + c])}")
        print(f"T5 ids identical at both batch sizes: {S['t5_same_ids']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": S, "runs": runs, "prompt_tokens": lens}, f, indent=1)


if __name__ == "__main__":
    main()
