#!/usr/bin/python3
"""Encoder-decoder benchmark: engine/seq2seq.h against PyTorch on the same
T5-small-shaped random weights, in one run on one machine.

  model      T5-small shape: d_model 512, 6 + 6 layers, 8 heads of 64, d_ff
             2048 (relu), vocab 32128, tied head, random weights written to
             --model (default /tmp/ys_t5small, ~240 MB) unless present
  scoring    32 (source, target) pairs, source 128 tokens, target 32 (the
             decoder start + 31): every target token's log-probability
             (full log-softmax over the vocabulary); examples/s = 32 / best
             wall time of the whole batch; also the least process CPU
             time (all threads) per batch, which foreign load on a shared
             machine distorts less than wall time
  greedy     32 new tokens from one 128-token source (EOS suppressed so
             exactly 32 are made), encoder included; examples/s = 1 / best
  yardstick  bench/s2s_throughput.c (compiled here against the build's
             libys_engine.a), --threads (default 2)
  PyTorch    1.13, torch.set_num_threads(2), float32, no_grad: a batched
             restatement of HF's T5ForConditionalGeneration eager code
             (batched encoder and decoder for scoring; for greedy, the
             encoder once, cross-attention K/V precomputed per layer and a
             torch.cat self-attention KV cache), run with glibc malloc
             settings that keep freed memory in the heap (see
             bench_engine.py: PyTorch at its best)

Both report the first pair's log-probabilities and the generated ids; the
script prints their agreement (same model check).

Usage (from the repository root):
  /usr/bin/python3 bench/bench_seq2seq.py [--build build-rel] [--repeat 3] [--json out.json]
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHAPE = {"vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6,
         "num_decoder_layers": 6, "num_heads": 8, "relative_attention_num_buckets": 32,
         "relative_attention_max_distance": 128}
PAIRS, SRC_LEN, TGT_LEN, NEW = 32, 128, 32, 32
TORCH_MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 36)}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_model(d):
    """T5-small-shaped random checkpoint (config.json + model.safetensors)."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity", "gen"))
    from gen_models import write_safetensors
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return
    os.makedirs(d, exist_ok=True)
    cfg = dict(SHAPE, architectures=["T5ForConditionalGeneration"], model_type="t5", layer_norm_epsilon=1e-6,
               feed_forward_proj="relu", tie_word_embeddings=True, decoder_start_token_id=0, pad_token_id=0,
               eos_token_id=1, is_encoder_decoder=True)
    g = torch.Generator().manual_seed(5)
    d_, F, inner, V = cfg["d_model"], cfg["d_ff"], cfg["num_heads"] * cfg["d_kv"], cfg["vocab_size"]

    def r(*shape, std):
        return torch.randn(*shape, generator=g) * std

    W = {"shared.weight": r(V, d_, std=1.0),
         "encoder.final_layer_norm.weight": torch.ones(d_), "decoder.final_layer_norm.weight": torch.ones(d_)}
    for side, n in (("encoder", cfg["num_layers"]), ("decoder", cfg["num_decoder_layers"])):
        for l in range(n):
            p = f"{side}.block.{l}.layer."
            atts = ["0.SelfAttention."] + (["1.EncDecAttention."] if side == "decoder" else [])
            for a in atts:
                for w, shp in (("q", (inner, d_)), ("k", (inner, d_)), ("v", (inner, d_)), ("o", (d_, inner))):
                    W[p + a + w + ".weight"] = r(*shp, std=shp[1] ** -0.5)
            if l == 0:
                W[p + "0.SelfAttention.relative_attention_bias.weight"] = r(32, cfg["num_heads"], std=0.5)
            ff = "2" if side == "decoder" else "1"
            W[p + ff + ".DenseReluDense.wi.weight"] = r(F, d_, std=d_ ** -0.5)
            W[p + ff + ".DenseReluDense.wo.weight"] = r(d_, F, std=F ** -0.5)
            for k in range(len(atts) + 1):
                W[p + f"{k}.layer_norm.weight"] = torch.ones(d_)
    write_safetensors(os.path.join(d, "model.safetensors"), W)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def make_pairs(path):
    import random
    rng = random.Random(11)
    with open(path, "w") as f:
        for _ in range(PAIRS):
            src = [rng.randrange(2, SHAPE["vocab_size"]) for _ in range(SRC_LEN - 1)] + [1]
            dec = [0] + [rng.randrange(2, SHAPE["vocab_size"]) for _ in range(TGT_LEN - 1)]
            f.write(" ".join(map(str, src)) + " | " + " ".join(map(str, dec)) + "\n")


def build_driver(build):
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build, "-j2", "--target", "ys_engine"], check=True, stdout=subprocess.DEVNULL)
    pc = lambda *a: subprocess.run(["pkg-config", *a, "libcjson", "libpcre2-8"], check=True,
                                   stdout=subprocess.PIPE, text=True).stdout.split()
    exe = os.path.join(build, "s2s_throughput")
    lib = os.path.join(build, "engine", "libys_engine.a")
    subprocess.run(["cc", "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-o", exe,
                    os.path.join(ROOT, "bench", "s2s_throughput.c"), "-I" + os.path.join(ROOT, "engine"),
                    "-I" + os.path.join(ROOT, "metrics"), *pc("--cflags"), lib, *pc("--libs"),
                    "-lpthread", "-ldl", "-lm"], check=True)
    return exe


# ---------------------------------------------------------------- PyTorch

def torch_worker(model_dir, pairs_path, threads, repeat):
    import struct
    import torch
    import torch.nn.functional as Fn
    torch.set_num_threads(threads)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = bytearray(f.read())
    W = {n: torch.frombuffer(data, dtype=torch.float32, offset=h["data_offsets"][0],
                             count=(h["data_offsets"][1] - h["data_offsets"][0]) // 4).view(h["shape"])
         for n, h in header.items() if n != "__metadata__"}
    nh, hd, d, eps = cfg["num_heads"], cfg["d_kv"], cfg["d_model"], cfg["layer_norm_epsilon"]
    nb, md = cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"]

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def bucket(rel, bidirectional):
        n_b, ret = nb, torch.zeros_like(rel)
        if bidirectional:
            n_b //= 2
            ret += (rel > 0).long() * n_b
            n = rel.abs()
        else:
            n = -torch.min(rel, torch.zeros_like(rel))
        exact = n_b // 2
        large = exact + (torch.log(n.float() / exact) / math.log(md / exact) * (n_b - exact)).long()
        large = torch.min(large, torch.full_like(large, n_b - 1))
        return ret + torch.where(n < exact, n, large)

    def bias(table, q_pos, k_len, bidirectional):
        rel = torch.arange(k_len)[None, :] - q_pos[:, None]
        return table[bucket(rel, bidirectional)].permute(2, 0, 1).unsqueeze(0)   # [1, nh, q, k]

    def heads(x):
        return x.view(x.shape[0], -1, nh, hd).transpose(1, 2)

    def attn(q, k, v, b):
        s = torch.matmul(q, k.transpose(-1, -2))
        if b is not None:
            s = s + b
        p = torch.softmax(s.float(), dim=-1)
        o = torch.matmul(p, v).transpose(1, 2)
        return o.reshape(o.shape[0], o.shape[1], nh * hd)

    def ff(p, h):
        return Fn.linear(torch.relu(Fn.linear(h, W[p + "wi.weight"])), W[p + "wo.weight"])

    def encode(src):
        x = Fn.embedding(src, W["shared.weight"])
        b = bias(W["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                 torch.arange(src.shape[1]), src.shape[1], True)
        for l in range(cfg["num_layers"]):
            p = f"encoder.block.{l}.layer."
            h = rms(x, W[p + "0.layer_norm.weight"])
            a = p + "0.SelfAttention."
            x = x + Fn.linear(attn(heads(Fn.linear(h, W[a + "q.weight"])), heads(Fn.linear(h, W[a + "k.weight"])),
                                   heads(Fn.linear(h, W[a + "v.weight"])), b), W[a + "o.weight"])
            x = x + ff(p + "1.DenseReluDense.", rms(x, W[p + "1.layer_norm.weight"]))
        return rms(x, W["encoder.final_layer_norm.weight"])

    def cross_kv(enc):
        return [(heads(Fn.linear(enc, W[f"decoder.block.{l}.layer.1.EncDecAttention.k.weight"])),
                 heads(Fn.linear(enc, W[f"decoder.block.{l}.layer.1.EncDecAttention.v.weight"])))
                for l in range(cfg["num_decoder_layers"])]

    def decode(dec, ckv, past=None):
        """dec [B, T] at positions p0.. -> logits [B, T, V], new past."""
        B, T = dec.shape
        p0 = 0 if past is None else past[0][0].shape[2]
        y = Fn.embedding(dec, W["shared.weight"])
        b = bias(W["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                 torch.arange(p0, p0 + T), p0 + T, False)
        if T > 1:
            mask = torch.ones(T, p0 + T, dtype=torch.bool).tril(p0)
            b = b.masked_fill(~mask, torch.finfo(torch.float32).min)
        present = []
        for l in range(cfg["num_decoder_layers"]):
            p = f"decoder.block.{l}.layer."
            a = p + "0.SelfAttention."
            h = rms(y, W[p + "0.layer_norm.weight"])
            k, v = heads(Fn.linear(h, W[a + "k.weight"])), heads(Fn.linear(h, W[a + "v.weight"]))
            if past is not None:
                k, v = torch.cat([past[l][0], k], 2), torch.cat([past[l][1], v], 2)
            present.append((k, v))
            y = y + Fn.linear(attn(heads(Fn.linear(h, W[a + "q.weight"])), k, v, b), W[a + "o.weight"])
            c = p + "1.EncDecAttention."
            h = rms(y, W[p + "1.layer_norm.weight"])
            y = y + Fn.linear(attn(heads(Fn.linear(h, W[c + "q.weight"])), ckv[l][0], ckv[l][1], None),
                              W[c + "o.weight"])
            y = y + ff(p + "2.DenseReluDense.", rms(y, W[p + "2.layer_norm.weight"]))
        y = rms(y, W["decoder.final_layer_norm.weight"]) * d ** -0.5
        return Fn.linear(y, W["shared.weight"]), present

    with open(pairs_path) as f:
        rows = [line.split("|") for line in f if line.strip()]
    src = torch.tensor([[int(t) for t in r[0].split()] for r in rows])
    dec = torch.tensor([[int(t) for t in r[1].split()] for r in rows])
    res = {"torch": torch.__version__, "threads": torch.get_num_threads()}

    def score():
        logits, _ = decode(dec, cross_kv(encode(src)))
        lp = torch.log_softmax(logits, dim=-1)
        return lp[:, :-1].gather(-1, dec[:, 1:, None])[..., 0]

    def greedy():
        ckv = cross_kv(encode(src[:1]))
        tok, past, out = torch.tensor([[0]]), None, []
        for _ in range(NEW):
            logits, past = decode(tok, ckv, past)
            z = logits[0, -1]
            z[cfg["eos_token_id"]] = -math.inf   # min_new_tokens = NEW
            out.append(int(z.argmax()))
            tok = torch.tensor([[out[-1]]])
        return out

    with torch.no_grad():
        for name, fn in (("score", score), ("generate", greedy)):
            v = fn()   # warm-up
            best = math.inf
            best_cpu = math.inf
            for _ in range(repeat):
                t, c = time.perf_counter(), time.process_time()
                v = fn()
                best = min(best, time.perf_counter() - t)
                best_cpu = min(best_cpu, time.process_time() - c)
            res[name + "_s"] = best
            if name == "score":
                res["score_cpu_s"] = best_cpu
            if name == "score":
                res["logprobs0"] = v[0].double().tolist()
            else:
                res["generated"] = v
    print(json.dumps(res))


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/tmp/ys_t5small")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--torch-worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        torch_worker(a.torch_worker[0], a.torch_worker[1], a.threads, a.repeat)
        return
    log(f"model: {a.model}")
    make_model(a.model)
    pairs = os.path.join(a.model, "bench_pairs.txt")
    make_pairs(pairs)
    log("building the driver")
    exe = build_driver(a.build)
    # the two sides alternate (--rounds times) and each keeps its best, so
    # a burst of foreign load on this shared machine hits both alike
    env = dict(os.environ, **TORCH_MALLOC_ENV)
    Y = T = None
    loads = []
    for r in range(a.rounds):
        loads.append(os.getloadavg()[0])
        log(f"round {r + 1}: yardstick (load average {loads[-1]:.2f})")
        y = json.loads(subprocess.run([exe, a.model, pairs, str(a.threads), str(a.repeat), str(NEW)], check=True,
                                      stdout=subprocess.PIPE, text=True).stdout)
        loads.append(os.getloadavg()[0])
        log(f"round {r + 1}: PyTorch (load average {loads[-1]:.2f})")
        t = json.loads(subprocess.run([sys.executable, __file__, "--threads", str(a.threads), "--repeat",
                                       str(a.repeat), "--torch-worker", a.model, pairs], check=True, env=env,
                                      stdout=subprocess.PIPE, text=True).stdout)
        if Y is None:
            Y, T = y, t
        for k in ("score_s", "score_cpu_s", "generate_s"):
            Y[k], T[k] = min(Y[k], y[k]), min(T[k], t[k])
    maxd = max(abs(x - y) for x, y in zip(Y["logprobs0"], T["logprobs0"]))
    same = Y["generated"] == T["generated"]
    rows = [("scoring: 32 pairs, source 128, target 32 (examples/s)", PAIRS / Y["score_s"], PAIRS / T["score_s"]),
            (f"greedy: {NEW} new tokens from a 128-token source (examples/s)", 1 / Y["generate_s"],
             1 / T["generate_s"])]
    print(f"\nT5-small shape (d_model 512, 6+6 layers, 8 heads, d_ff 2048, vocab 32128), F32, "
          f"{a.threads} threads, best of {a.rounds} x {a.repeat}\n")
    print("| measurement | yardstick | PyTorch | yardstick / PyTorch |\n|---|---|---|---|")
    for name, y, t in rows:
        print(f"| {name} | {y:.2f} | {t:.2f} | {y / t:.2f}x |")
    print(f"| scoring: process CPU seconds per batch, all threads (least; foreign load distorts it less) | "
          f"{Y['score_cpu_s']:.2f} | {T['score_cpu_s']:.2f} | {T['score_cpu_s'] / Y['score_cpu_s']:.2f}x |")
    print(f"\nyardstick load {Y['load_s']:.3f} s; PyTorch {T['torch']} ({T['threads']} threads). Same model: "
          f"first pair's log-probabilities agree to {maxd:.1e}; greedy ids "
          f"{'identical' if same else 'DIFFER'} ({len(Y['generated'])} tokens). 1-minute load average "
          f"before each run (2 cores; ours adds 2): {', '.join(f'{x:.1f}' for x in loads)}.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"yardstick": Y, "torch": T, "max_logprob_diff": maxd, "greedy_same": same}, f, indent=1)


if __name__ == "__main__":
    main()
