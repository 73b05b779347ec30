#!/usr/bin/python3
"""Encoder benchmark: engine/encoder.c's BERT classifier against PyTorch, on
the same BERT-base-shaped weights, in one run on one machine.

  checkpoint  BertForSequenceClassification, vocab 30522, hidden 768, 12
              layers, 12 heads, MLP 3072, 512 positions, 2 labels, random
              weights (BERT's init: std 0.02), F32 safetensors, written once
              to --model (default /tmp/ys_bert_base, 438 MB)
  input       --batch sequences (default 32) of --seq tokens (default 128):
              [CLS] random ids [SEP], type ids 0, no padding
  yardstick   bench/enc_throughput (engine/encoder.h, --threads threads):
              one enc_classify call per batch, best of --repeat after a
              warm-up -> examples/s
  PyTorch     1.13 CPU, torch.set_num_threads(--threads), float32,
              torch.no_grad(), an nn.Module written like HF's eager
              BertForSequenceClassification (nn.Linear q/k/v/o, scores / sqrt(hd)
              + extended attention mask, softmax, erf GELU, post-LN, pooler,
              classifier); the same batch as one [B, T] tensor, best of
              --repeat after a warm-up -> examples/s. Run in a subprocess
              with freed memory kept in the heap (see TORCH_MALLOC_ENV), and
              again with glibc's defaults unless --skip-default-malloc.
  check       max |logit difference| between the two on every sequence
  CPU time    the least process CPU time of a batch (all threads) for each:
              what the work costs when other processes take cores away

Usage (from the repository root, after a Release build):
  cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel -j2 --target enc_throughput
  /usr/bin/python3 bench/bench_encoder.py --build build-rel [--json out.json]

Engine and PyTorch runs alternate (--rounds times) so that load from other
processes on a shared machine hits both alike; the best of each is kept and
the CPU use seen before each run is printed.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# As in bench_engine.py: PyTorch allocates every intermediate afresh, and in
# this VM a first-touch page fault costs ~15 us per 4 KiB page; keeping freed
# memory in the heap is PyTorch at its best.
TORCH_MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 36)}

SHAPE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_busy(seconds=1.0):
    """Fraction of all CPUs busy over `seconds` (from /proc/stat)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


# ---------------------------------------------------------------- checkpoint

def make_checkpoint(d):
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity", "gen"))
    import gen_models as gm
    cfg = dict(SHAPE, architectures=["BertForSequenceClassification"], model_type="bert", hidden_act="gelu",
               layer_norm_eps=1e-12, pad_token_id=0, position_embedding_type="absolute",
               id2label={"0": "NEGATIVE", "1": "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1},
               torch_dtype="float32")
    g = torch.Generator().manual_seed(2024)
    H, F, V = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["vocab_size"]

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    W = {"bert.embeddings.word_embeddings.weight": rnd(V, H),
         "bert.embeddings.position_embeddings.weight": rnd(SHAPE["max_position_embeddings"], H),
         "bert.embeddings.token_type_embeddings.weight": rnd(SHAPE["type_vocab_size"], H),
         "bert.embeddings.LayerNorm.weight": torch.ones(H), "bert.embeddings.LayerNorm.bias": torch.zeros(H)}

    def lin(name, o, i):
        W[name + ".weight"] = rnd(o, i)
        W[name + ".bias"] = rnd(o)

    for l in range(SHAPE["num_hidden_layers"]):
        p = f"bert.encoder.layer.{l}."
        for n in ("query", "key", "value"):
            lin(p + "attention.self." + n, H, H)
        lin(p + "attention.output.dense", H, H)
        lin(p + "intermediate.dense", F, H)
        lin(p + "output.dense", H, F)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            W[p + n + ".weight"] = 1.0 + rnd(H)
            W[p + n + ".bias"] = rnd(H)
    lin("bert.pooler.dense", H, H)
    W["classifier.weight"] = rnd(2, H) * 25   # logits of order 1
    W["classifier.bias"] = torch.zeros(2)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    gm.write_safetensors(os.path.join(d, "model.safetensors"), W)


def read_safetensors(path):
    import numpy as np
    import torch
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", k
        b, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data, dtype=np.float32, count=(e - b) // 4, offset=b)
                                  .reshape(v["shape"]).copy())
    return out


# ---------------------------------------------------------------- PyTorch side

def torch_worker(model_dir, ids_path, threads, repeat):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    H, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    hd = H // nh

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key, self.value, self.attn_out = (nn.Linear(H, H) for _ in range(4))
            self.ln1 = nn.LayerNorm(H, eps=eps)
            self.inter = nn.Linear(H, cfg["intermediate_size"])
            self.out = nn.Linear(cfg["intermediate_size"], H)
            self.ln2 = nn.LayerNorm(H, eps=eps)

        def heads(self, x):
            B, T, _ = x.shape
            return x.view(B, T, nh, hd).permute(0, 2, 1, 3)

        def forward(self, x, ext_mask):
            B, T, _ = x.shape
            q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext_mask
            p = nn.functional.softmax(s, dim=-1)
            ctx = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous().view(B, T, H)
            x = self.ln1(self.attn_out(ctx) + x)
            return self.ln2(self.out(nn.functional.gelu(self.inter(x))) + x)

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(cfg["vocab_size"], H)
            self.pos = nn.Embedding(cfg["max_position_embeddings"], H)
            self.ttype = nn.Embedding(cfg["type_vocab_size"], H)
            self.ln = nn.LayerNorm(H, eps=eps)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg["num_hidden_layers"]))
            self.pooler = nn.Linear(H, H)
            self.classifier = nn.Linear(H, len(cfg["id2label"]))

        def forward(self, ids, type_ids, mask):
            T = ids.shape[1]
            x = self.word(ids) + self.ttype(type_ids)
            x = self.ln(x + self.pos(torch.arange(T)[None]))
            ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
            for layer in self.layers:
                x = layer(x, ext)
            return self.classifier(torch.tanh(self.pooler(x[:, 0])))

    W = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    m = Bert()
    sd = {"word.weight": "bert.embeddings.word_embeddings.weight",
          "pos.weight": "bert.embeddings.position_embeddings.weight",
          "ttype.weight": "bert.embeddings.token_type_embeddings.weight",
          "ln.weight": "bert.embeddings.LayerNorm.weight", "ln.bias": "bert.embeddings.LayerNorm.bias",
          "pooler.weight": "bert.pooler.dense.weight", "pooler.bias": "bert.pooler.dense.bias",
          "classifier.weight": "classifier.weight", "classifier.bias": "classifier.bias"}
    names = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
             "attn_out": "attention.output.dense", "ln1": "attention.output.LayerNorm",
             "inter": "intermediate.dense", "out": "output.dense", "ln2": "output.LayerNorm"}
    for l in range(cfg["num_hidden_layers"]):
        for a, b in names.items():
            for wb in ("weight", "bias"):
                sd[f"layers.{l}.{a}.{wb}"] = f"bert.encoder.layer.{l}.{b}.{wb}"
    m.load_state_dict({k: W[v] for k, v in sd.items()})
    m.eval()
    with open(ids_path) as f:
        seqs = [[int(t) for t in line.split()] for line in f if line.strip()]
    ids = torch.tensor(seqs)
    type_ids = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    times, cpu = [], []
    with torch.no_grad():
        for r in range(repeat + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            logits = m(ids, type_ids, mask)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if r:
                times.append(dt)
                cpu.append(dc)
    best = min(times)
    print(json.dumps({"threads": torch.get_num_threads(), "times": times, "best_s": best, "best_cpu_s": min(cpu),
                      "examples_per_s": len(seqs) / best, "logits": logits.tolist(),
                      "torch": torch.__version__}))


# ---------------------------------------------------------------- driver

def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="/tmp/ys_bert_base")
    ap.add_argument("--build", default="build-rel", help="build directory holding bench/enc_throughput")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per run (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating engine / PyTorch runs")
    ap.add_argument("--skip-default-malloc", action="store_true",
                    help="skip the PyTorch run with glibc's default malloc settings")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--torch-worker", nargs=2, metavar=("IDS", "REPEAT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        torch_worker(args.model, args.torch_worker[0], args.threads, int(args.torch_worker[1]))
        return

    exe = os.path.join(ROOT, args.build, "bench", "enc_throughput")
    if not os.path.exists(exe):
        sys.exit(f"{exe} missing: build the enc_throughput target first (see --help)")
    if not os.path.exists(os.path.join(args.model, "model.safetensors")):
        log(f"writing the BERT-base-shaped checkpoint to {args.model} ...")
        make_checkpoint(args.model)
    import random
    rng = random.Random(7)
    ids_path = os.path.join(args.model, f"ids_{args.batch}x{args.seq}.txt")
    with open(ids_path, "w") as f:
        for _ in range(args.batch):
            ids = [101] + [rng.randrange(1000, SHAPE["vocab_size"]) for _ in range(args.seq - 2)] + [102]
            f.write(" ".join(map(str, ids)) + "\n")

    eng, tor, busy = [], [], []
    torch_cmd = [sys.executable, os.path.abspath(__file__), "--model", args.model, "--threads",
                 str(args.threads), "--torch-worker", ids_path, str(args.repeat)]
    for r in range(args.rounds):
        busy.append(cpu_busy())
        log(f"round {r + 1}: CPUs {busy[-1]:.0%} busy before the engine run")
        eng.append(run_json([exe, args.model, ids_path, str(args.threads), str(args.repeat)]))
        log(f"  yardstick {eng[-1]['examples_per_s']:.2f} examples/s (calls {eng[-1]['times']})")
        busy.append(cpu_busy())
        log(f"round {r + 1}: CPUs {busy[-1]:.0%} busy before the PyTorch run")
        tor.append(run_json(torch_cmd, env=dict(os.environ, **TORCH_MALLOC_ENV)))
        log(f"  PyTorch   {tor[-1]['examples_per_s']:.2f} examples/s (calls {[round(t, 3) for t in tor[-1]['times']]})")
    default = None
    if not args.skip_default_malloc:
        default = run_json(torch_cmd)
        log(f"  PyTorch, glibc malloc defaults: {default['examples_per_s']:.2f} examples/s")

    e = max(eng, key=lambda x: x["examples_per_s"])
    t = max(tor, key=lambda x: x["examples_per_s"])
    diff = max(abs(a - b) for la, lb in zip(e["logits"], t["logits"]) for a, b in zip(la, lb))
    H, F, Lyr, T = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["num_hidden_layers"], args.seq
    flops = Lyr * (2 * T * (4 * H * H + 2 * H * F) + 4 * T * T * H)   # per sequence, projections + attention
    ratio = e["examples_per_s"] / t["examples_per_s"]
    print(f"\nBERT-base shape (vocab 30522, 768 wide, 12 layers, MLP 3072), batch {args.batch} x {args.seq} "
          f"tokens, {args.threads} threads, best of {args.rounds} x {args.repeat}\n")
    print("| measurement | yardstick | PyTorch | yardstick / PyTorch |")
    print("|---|---|---|---|")
    print(f"| examples/s | {e['examples_per_s']:.2f} | {t['examples_per_s']:.2f} | {ratio:.2f}x |")
    if default:
        print(f"| examples/s, PyTorch with glibc's default malloc | | {default['examples_per_s']:.2f} | "
              f"{e['examples_per_s'] / default['examples_per_s']:.2f}x |")
    print(f"| achieved GFLOP/s ({flops / 1e9:.2f} GFLOP per sequence) | {flops * e['examples_per_s'] / 1e9:.1f} | "
          f"{flops * t['examples_per_s'] / 1e9:.1f} | |")
    print(f"| seconds per batch (best) | {e['best_s']:.3f} | {t['best_s']:.3f} | |")
    ce, ct = min(x["best_cpu_s"] for x in eng), min(x["best_cpu_s"] for x in tor)
    print(f"| process CPU seconds per batch, all threads (least; robust to other load) | {ce:.2f} | {ct:.2f} | "
          f"{ct / ce:.2f}x |")
    print(f"\nmax |logit diff| yardstick vs PyTorch fp32: {diff:.2e}; engine load {e['load_s']:.3f} s; "
          f"CPU busy before runs: {', '.join(f'{b:.0%}' for b in busy)}")
    print(f"target >= 1.5x PyTorch: {'met' if ratio >= 1.5 else 'missed'} ({ratio:.2f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"yardstick": eng, "torch": tor, "torch_default_malloc": default, "busy": busy,
                       "max_logit_diff": diff, "ratio": ratio}, f)


if __name__ == "__main__":
    main()
