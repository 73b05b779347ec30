#!/usr/bin/python3
"""Precision and quantization benchmark (issue 12): yardstick's fp32,
16-bit-weight, --quantize int8 / int4 and --compute bf16 paths against each
other and against llama.cpp's F32 / F16 / Q8_0 / Q4_0 on the same weights,
in one run, repeated and interleaved; plus the memory checks on
Llama-3.2-3B- and Llama-3.1-8B-shaped BF16 checkpoints.

From the repository root, after a Release build (see bench/README.md,
"Precision and quantization"):

  bench_quant.py bench --shape gpt2s|llama1b [--repeat 3] [--workdir /tmp/ys_bq]
                 [--json out.json]      (LLAMA_CPP_DIR=/path/to/llama.cpp)
      Writes (once, kept in --workdir) a random-weight checkpoint of the
      shape in BF16 and the same values widened to F32, converts them to
      GGUF (GPT-2: bench/to_gguf.py F32; Llama: a BF16 GGUF written here
      with llama.cpp's gguf-py, as its convert_hf_to_gguf.py's LlamaModel
      lays it out), llama-quantize makes F16, Q8_0 and Q4_0 from it. Then,
      --repeat times, every configuration in turn (the order rotates
      each repetition):
        yardstick  fp32 (F32 checkpoint), bf16 weights (BF16 checkpoint as
                   stored), --quantize int8, --quantize int4 --group-size 32,
                   --compute bf16, the two quantizations with
                   --quantize-head int8 (the LM head too, as llama-quantize
                   does), --quantize int8 --compute int8 (with and without
                   the head):
                   scoring = `logprobs --ids` on one 1024-token window,
                   tok/s = 1024 / (wall - wall of `generate --max-tokens 1`,
                   i.e. load + a 1-token forward); decode = `generate
                   --prompt-ids ID --ignore-eos` with --max-tokens 1 and
                   1 + DECODE, tok/s = DECODE / (difference of the walls)
        llama.cpp  llama-bench -p 0 -n DECODE -r 1 (tg), llama-perplexity
                   -c 1024 --chunks 1 (one 1024-token window, all logits;
                   tok/s from its "prompt eval time" line); --lc-poll N
                   passes --poll N to both
      --only NAME,... keeps those configurations and GGUF types only;
      --decode-only measures decode alone (no scoring runs). The int4
      configurations without "g32" use the default group size (128),
      with the LM head as stored, int8 or int4 (--quantize-head).
      Peak RSS of every process (GNU time). Prints medians, min-max spreads
      and the ratios of the issue's targets computed within each
      repetition.
  bench_quant.py memory --shape llama3b|llama8b [--tokens 1024] [--keep]
      Writes the BF16 checkpoint, scores one window of --tokens tokens
      under /usr/bin/time -v (peak RSS, wall), and deletes it.
  bench_quant.py report OUT.json --shape NAME
      The tables again from a --json file (or its .partial, written after
      every repetition).
  bench_quant.py make DIR --shape NAME [--f32]
      Only write the checkpoint (BF16; --f32: F32 of the same values).
"""
import argparse
import json
import math
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHARED = os.environ.get("YS_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
SEQ = 1024
DECODE = 128


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- shapes
# Llama 3.x shapes from the published config.json files (hidden, layers,
# heads, kv heads, intermediate, tied head), as bench_arch.py's table on
# feat/bench; GPT-2 small is bench/make_gpt2_small.py's.

def llama_cfg(H, L, nh, nkv, F, tied, factor=32.0):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256,
            "hidden_size": H, "intermediate_size": F, "num_hidden_layers": L,
            "num_attention_heads": nh, "num_key_value_heads": nkv, "head_dim": H // nh, "hidden_act": "silu",
            "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
            "rope_scaling": {"factor": factor, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False, "pretraining_tp": 1,
            "initializer_range": 0.02, "use_cache": True, "tie_word_embeddings": tied,
            "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16"}


LLAMA = {
    "llama1b": llama_cfg(2048, 16, 32, 8, 8192, True),     # Llama-3.2-1B
    "llama3b": llama_cfg(3072, 28, 24, 8, 8192, True),     # Llama-3.2-3B
    "llama8b": llama_cfg(4096, 32, 32, 8, 14336, False, factor=8.0),   # Llama-3.1-8B
}


def llama_tensors(c):
    H, L, nh, nkv, F, V = (c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"],
                           c["num_key_value_heads"], c["intermediate_size"], c["vocab_size"])
    hd = c["head_dim"]
    out = [("model.embed_tokens.weight", (V, H)), ("model.norm.weight", (H,))]
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", (V, H)))
    for l in range(L):
        p = f"model.layers.{l}."
        out += [(p + "input_layernorm.weight", (H,)), (p + "post_attention_layernorm.weight", (H,)),
                (p + "self_attn.q_proj.weight", (nh * hd, H)), (p + "self_attn.k_proj.weight", (nkv * hd, H)),
                (p + "self_attn.v_proj.weight", (nkv * hd, H)), (p + "self_attn.o_proj.weight", (H, nh * hd)),
                (p + "mlp.gate_proj.weight", (F, H)), (p + "mlp.up_proj.weight", (F, H)),
                (p + "mlp.down_proj.weight", (H, F))]
    return out


def llama_std(c, name, shape):
    """Peaked draws (as tests/parity/gen/gen_arch_models.py): embeddings 0.4,
    q/k 2/sqrt(H), head 1.5/sqrt(H), others 1/sqrt(fan-in); norms ~1."""
    H = c["hidden_size"]
    if len(shape) == 1:
        return 0.1, 1.0
    if "embed_tokens" in name:
        return 0.4, 0.0
    if "lm_head" in name:
        return 1.5 / math.sqrt(H), 0.0
    if "q_proj" in name or "k_proj" in name:
        return 2.0 / math.sqrt(H), 0.0
    return 1.0 / math.sqrt(shape[1]), 0.0


# ---------------------------------------------------------------- safetensors

def to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns, round to nearest even (the values
    drawn here are normal and finite)."""
    b = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    return ((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def write_safetensors(path, shapes, dtype, chunks):
    """shapes: [(name, shape)] in file order; chunks(name, shape) yields
    numpy arrays (uint16 BF16 bits or float32) filling the tensor row-wise."""
    es = 2 if dtype == "BF16" else 4
    header, off = {}, 0
    for n, s in shapes:
        header[n] = {"dtype": dtype, "shape": list(s), "data_offsets": [off, off + es * math.prod(s)]}
        off += es * math.prod(s)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for n, s in shapes:
            for a in chunks(n, s):
                f.write(a.tobytes())


def read_safetensors(path):
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for n, h in header.items():
        if n == "__metadata__":
            continue
        a, b = h["data_offsets"]
        dt = {"F32": np.float32, "BF16": np.uint16, "F16": np.float16}.get(h["dtype"])
        if dt is not None:
            out[n] = (h["dtype"], mm[8 + hlen + a:8 + hlen + b].view(dt).reshape(h["shape"]))
    return out


def make_llama(shape, out, f32_out=None, seed=1234):
    c = LLAMA[shape]
    os.makedirs(out, exist_ok=True)
    shapes = llama_tensors(c)
    rng = np.random.default_rng(seed)

    def chunks(name, s):
        std, mean = llama_std(c, name, s)
        step = max(1, (1 << 24) // max(1, math.prod(s[1:])))
        for r0 in range(0, s[0], step):
            t = rng.standard_normal((min(step, s[0] - r0),) + tuple(s[1:]), dtype=np.float32)
            yield to_bf16_bits(t * np.float32(std) + np.float32(mean))

    write_safetensors(os.path.join(out, "model.safetensors"), shapes, "BF16", chunks)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    tok = os.path.join(SHARED, "tokenizers", "llama3")
    with open(os.path.join(tok, "tokenizer.json.gz"), "rb") as src:
        import gzip
        with gzip.open(src) as g, open(os.path.join(out, "tokenizer.json"), "wb") as dst:
            shutil.copyfileobj(g, dst)
    shutil.copy(os.path.join(tok, "tokenizer_config.json"), out)
    if f32_out:
        widen(out, f32_out)


def widen(src, dst):
    """A checkpoint's BF16 tensors as F32 (the same values) in dst."""
    os.makedirs(dst, exist_ok=True)
    W = read_safetensors(os.path.join(src, "model.safetensors"))
    shapes = [(n, tuple(a.shape)) for n, (_, a) in W.items()]

    def chunks(name, s):
        dt, a = W[name]
        step = max(1, (1 << 24) // max(1, math.prod(s[1:])))
        for r0 in range(0, s[0], step):
            x = a[r0:r0 + step]
            yield bf16_to_f32(x) if dt == "BF16" else np.asarray(x, dtype=np.float32)

    write_safetensors(os.path.join(dst, "model.safetensors"), shapes, "F32", chunks)
    for fn in os.listdir(src):
        if fn != "model.safetensors":
            shutil.copy(os.path.join(src, fn), dst)
    with open(os.path.join(dst, "config.json")) as f:
        c = json.load(f)
    c["torch_dtype"] = "float32"
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(c, f, indent=2)


def make_gpt2s(out, f32_out):
    """bench/make_gpt2_small.py's F32 checkpoint rounded to BF16 (out), and
    those BF16 values widened back to F32 (f32_out): every configuration
    then computes with the same weights."""
    tmp = out.rstrip("/") + "-orig"
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_gpt2_small.py"), tmp], check=True)
    W = read_safetensors(os.path.join(tmp, "model.safetensors"))
    os.makedirs(out, exist_ok=True)
    shapes = [(n, tuple(a.shape)) for n, (_, a) in W.items()]
    write_safetensors(os.path.join(out, "model.safetensors"), shapes, "BF16",
                      lambda n, s: [to_bf16_bits(W[n][1])])
    for fn in os.listdir(tmp):
        if fn != "model.safetensors":
            shutil.copy(os.path.join(tmp, fn), out)
    with open(os.path.join(out, "config.json")) as f:
        c = json.load(f)
    c["torch_dtype"] = "bfloat16"
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    del W
    shutil.rmtree(tmp)
    widen(out, f32_out)


# ---------------------------------------------------------------- GGUF

def import_gguf(lcpp):
    sys.path.insert(0, os.path.join(lcpp, "gguf-py"))
    try:
        import sentencepiece  # noqa: F401
    except ImportError:   # imported at module level by gguf-py, unused here
        import types
        sp = types.ModuleType("sentencepiece")
        sp.SentencePieceProcessor = None
        sys.modules["sentencepiece"] = sp
    import gguf
    return gguf


def llama_to_gguf(lcpp, src, dst):
    """A Llama BF16 checkpoint as a BF16 GGUF, laid out as llama.cpp's
    convert_hf_to_gguf.py (LlamaModel) does: q/k rows permuted from HF's
    rotate-half order to llama.cpp's pairwise RoPE, llama3 rope_scaling as a
    rope_freqs tensor, a tied head left out (llama.cpp reuses token_embd),
    the Llama 3 BPE vocabulary (pre-tokenizer llama-bpe)."""
    gguf = import_gguf(lcpp)
    with open(os.path.join(src, "config.json")) as f:
        c = json.load(f)
    H, L, nh, nkv, F, V, hd = (c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"],
                               c["num_key_value_heads"], c["intermediate_size"], c["vocab_size"], c["head_dim"])
    W = read_safetensors(os.path.join(src, "model.safetensors"))
    w = gguf.GGUFWriter(dst, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    w.add_name("yardstick-bench-llama-random")
    w.add_block_count(L)
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(H)
    w.add_feed_forward_length(F)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_freq_base(c["rope_theta"])
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])
    w.add_rope_dimension_count(hd)
    w.add_vocab_size(V)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    with open(os.path.join(src, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    rev = {i: t for t, i in tj["model"]["vocab"].items()}
    special = {}
    for t in tj["added_tokens"]:
        rev[t["id"]] = t["content"]
        special[t["id"]] = t.get("special", False)
    tokens, types = [], []
    for i in range(V):
        tokens.append(rev.get(i, f"[PAD{i}]"))
        types.append(gguf.TokenType.CONTROL if special.get(i) else
                     gguf.TokenType.NORMAL if i in rev else gguf.TokenType.UNUSED)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(src, load_merges=True, n_vocab=V).add_to_gguf(w)
    # llama3 rope scaling: per-frequency divisors, as the converter computes them
    rs = c["rope_scaling"]
    freqs = 1.0 / (c["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    lo_wl = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
    hi_wl = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
    fac = []
    for fr in freqs:
        wl = 2 * math.pi / fr
        if wl < hi_wl:
            fac.append(1.0)
        elif wl > lo_wl:
            fac.append(rs["factor"])
        else:
            sm = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (
                rs["high_freq_factor"] - rs["low_freq_factor"])
            fac.append(1 / ((1 - sm) / rs["factor"] + sm))
    w.add_tensor("rope_freqs.weight", np.array(fac, dtype=np.float32))

    def put(name, key, permute_heads=None):
        dt, a = W[key]
        if dt != "BF16":
            raise SystemExit(f"{key}: {dt}, expected BF16")
        if permute_heads:
            r = a.shape[0]
            a = a.reshape(permute_heads, 2, r // permute_heads // 2, a.shape[1]).swapaxes(1, 2).reshape(a.shape)
        if a.ndim == 1:   # norms stay F32, as the converter keeps them (ggml's CPU ops want F32 there)
            w.add_tensor(name, bf16_to_f32(np.asarray(a)))
        else:
            w.add_tensor(name, np.ascontiguousarray(a), raw_dtype=gguf.GGMLQuantizationType.BF16)

    put("token_embd.weight", "model.embed_tokens.weight")
    put("output_norm.weight", "model.norm.weight")
    if "lm_head.weight" in W:
        put("output.weight", "lm_head.weight")
    for l in range(L):
        p, b = f"model.layers.{l}.", f"blk.{l}."
        put(b + "attn_norm.weight", p + "input_layernorm.weight")
        put(b + "ffn_norm.weight", p + "post_attention_layernorm.weight")
        put(b + "attn_q.weight", p + "self_attn.q_proj.weight", nh)
        put(b + "attn_k.weight", p + "self_attn.k_proj.weight", nkv)
        put(b + "attn_v.weight", p + "self_attn.v_proj.weight")
        put(b + "attn_output.weight", p + "self_attn.o_proj.weight")
        put(b + "ffn_gate.weight", p + "mlp.gate_proj.weight")
        put(b + "ffn_up.weight", p + "mlp.up_proj.weight")
        put(b + "ffn_down.weight", p + "mlp.down_proj.weight")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------- running

def run(cmd, check=True):
    """(wall s, stdout, stderr, peak RSS MB) of one whole process; the
    process's CPU seconds (user + system) go to run.cpu."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "@@RSS %M %U %S"] + cmd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    err = p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    m = re.findall(r"@@RSS (\d+)", err)
    c = re.findall(r"@@RSS \d+ ([\d.]+) ([\d.]+)", err)
    run.cpu = float(c[-1][0]) + float(c[-1][1]) if c else None
    return wall, p.stdout.decode(errors="replace"), err, int(m[-1]) * 1024 / 1e6 if m else None


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


YS_CONFIGS = [  # name, checkpoint ("f32" or "bf16"), extra options
    ("fp32", "f32", []),
    ("bf16 weights", "bf16", []),
    ("int8", "bf16", ["--quantize", "int8"]),
    ("int4 g32", "bf16", ["--quantize", "int4", "--group-size", "32"]),
    ("compute bf16", "bf16", ["--compute", "bf16"]),
    # the LM head quantized too (--quantize-head), as llama-quantize does
    # (Q8_0 files: Q8_0 head; Q4_0 files: Q6_K head)
    ("int8 + head int8", "bf16", ["--quantize", "int8", "--quantize-head", "int8"]),
    ("int4 g32 + head int8", "bf16", ["--quantize", "int4", "--group-size", "32", "--quantize-head", "int8"]),
    # the default group size (128: 4.31 bits a weight with its scale and
    # zero point, fewer than Q4_0's 4.5), the head as int8 or int4 too
    ("int4", "bf16", ["--quantize", "int4"]),
    ("int4 + head int8", "bf16", ["--quantize", "int4", "--quantize-head", "int8"]),
    ("int4 + head int4", "bf16", ["--quantize", "int4", "--quantize-head", "int4"]),
    # llama.cpp's arithmetic: activations quantized per 32 (scoring against llama-perplexity)
    ("int8 compute int8", "bf16", ["--quantize", "int8", "--compute", "int8"]),
    ("int8 + head int8 compute int8", "bf16", ["--quantize", "int8", "--quantize-head", "int8", "--compute", "int8"]),
]


def ys_measure(ys, model, opts, win, prompt_id, threads, decode_only=False):
    th = ["--threads", str(threads)]
    gen = [ys, "generate", "--model", model, "--prompt-ids", str(prompt_id), "--ignore-eos"] + opts + th
    # CPU seconds as well as wall: on a shared machine the wall time also
    # counts the time other processes held the cores
    w1, _, _, rss_g1 = run(gen + ["--max-tokens", "1"])
    c1 = run.cpu
    wn, _, _, rss_gen = run(gen + ["--max-tokens", str(1 + DECODE)])
    cn = run.cpu
    if decode_only:
        ws, rss_s, cs = None, None, None
    else:
        ws, _, _, rss_s = run([ys, "logprobs", "--model", model, "--ids", win] + opts + th)
        cs = run.cpu
    if ws is None:
        return {"load_s": w1, "decode_tps": DECODE / max(wn - w1, 1e-6), "rss_gen_mb": rss_gen,
                "decode_tok_per_cpu_s": DECODE / max(cn - c1, 1e-6)}
    return {"load_s": w1, "score_wall": ws, "score_tps": SEQ / max(ws - w1, 1e-6),
            "decode_tps": DECODE / max(wn - w1, 1e-6), "rss_score_mb": rss_s, "rss_gen_mb": rss_gen,
            "score_tok_per_cpu_s": SEQ / max(cs - c1, 1e-6), "decode_tok_per_cpu_s": DECODE / max(cn - c1, 1e-6)}


def lc_measure(lcpp, gguf_path, text, threads, lc_poll, decode_only=False):
    bins = os.path.join(lcpp, "build", "bin")
    r = {}
    # --poll: how much llama.cpp's threads spin while waiting for work
    # (default 50). On a machine other processes keep busy, spinning
    # threads wait for a descheduled peer and a run takes minutes instead of
    # seconds; --poll 0 (sleep) is llama.cpp's best setting there.
    poll = ["--poll", str(lc_poll)] if lc_poll is not None else []
    _, out, _, rss_b = run([os.path.join(bins, "llama-bench"), "-m", gguf_path, "-p", "0", "-n", str(DECODE),
                            "-t", str(threads), "-r", "1", "-o", "json"] + poll)
    for e in json.loads(out):
        r["tg_tps"] = e["avg_ts"]
        r["commit"] = e.get("build_commit")
    if decode_only:
        r["rss_bench_mb"] = rss_b
        return r
    _, _, err, rss_p = run([os.path.join(bins, "llama-perplexity"), "-m", gguf_path, "-f", text, "-c", str(SEQ),
                            "-t", str(threads), "--chunks", "1"] + poll)
    m = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", err)
    if not m:
        sys.exit("llama-perplexity: no 'prompt eval time' line:\n" + err[-2000:])
    r["ppl_tps"] = int(m.group(2)) / (float(m.group(1)) / 1000)
    p = re.search(r"Final estimate: PPL = ([\d.]+)", err)
    r["ppl"] = float(p.group(1)) if p else None
    r["rss_bench_mb"], r["rss_ppl_mb"] = rss_b, rss_p
    return r


def prepare(args, lcpp):
    wd = os.path.join(args.workdir, args.shape)
    bf, f32 = os.path.join(wd, "bf16"), os.path.join(wd, "f32")
    if not os.path.exists(os.path.join(f32, "model.safetensors")):
        log(f"writing checkpoints in {wd}")
        if args.shape == "gpt2s":
            make_gpt2s(bf, f32)
        else:
            make_llama(args.shape, bf, f32)
    ggufs = {}
    qbin = os.path.join(lcpp, "build", "bin", "llama-quantize")
    if args.shape == "gpt2s":
        base, base_type = os.path.join(wd, "f32.gguf"), "F32"
        if not os.path.exists(base):
            env = dict(os.environ, PYTHONPATH=os.path.join(lcpp, "gguf-py"))
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "to_gguf.py"), f32, base], env=env,
                           check=True, stdout=subprocess.DEVNULL)
        ggufs["F32"] = base
    else:
        base, base_type = os.path.join(wd, "bf16.gguf"), "BF16"
        if not os.path.exists(base):
            llama_to_gguf(lcpp, bf, base)
    for q in ("F16", "Q8_0", "Q4_0"):
        p = os.path.join(wd, q.lower() + ".gguf")
        if not os.path.exists(p):
            log(f"llama-quantize {base_type} -> {q}")
            subprocess.run([qbin, base, p, q, "2"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        ggufs[q] = p
    if args.shape != "gpt2s":
        ggufs = {k: v for k, v in ggufs.items() if k != "BF16"}
    return {"f32": f32, "bf16": bf}, ggufs


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt(s, d=1):
    if s is None:
        return "—"
    return f"{s['median']:,.{d}f} ({s['min']:,.{d}f}–{s['max']:,.{d}f})"


def cmd_bench(args):
    lcpp = os.environ.get("LLAMA_CPP_DIR")
    if not lcpp:
        sys.exit("set LLAMA_CPP_DIR to a llama.cpp tree built in $LLAMA_CPP_DIR/build")
    build = args.build or os.path.join(ROOT, "build-rel")
    ys = os.path.join(build, "eval", "yardstick")
    text = args.text
    models, ggufs = prepare(args, lcpp)
    # the window: the text through the checkpoint's own tokenizer
    _, out, _, _ = run([ys, "tokenize", "--model", models["bf16"], "--json", "--no-special-tokens", "--file", text])
    ids = json.loads(out)["ids"]
    win = os.path.join(args.workdir, args.shape, "win.ids")
    with open(win, "w") as f:
        f.write(" ".join(map(str, ids[:SEQ])) + "\n")
    reps = []
    jobs = [("ys", n) for n, _, _ in YS_CONFIGS] + [("lc", q) for q in ggufs]
    if args.only:   # a subset: yardstick configuration names and GGUF types
        keep = set(args.only.split(","))
        jobs = [j for j in jobs if j[1] in keep]
    for r in range(args.repeat):
        rep = {"loadavg_start": loadavg(), "ys": {}, "lc": {}}
        order = jobs[r % len(jobs):] + jobs[:r % len(jobs)]   # rotate: drift spreads over all
        for kind, name in order:
            log(f"rep {r + 1}/{args.repeat}: {kind} {name} (load {loadavg():.1f})")
            if kind == "ys":
                ck, opts = next((c, o) for n, c, o in YS_CONFIGS if n == name)
                rep["ys"][name] = ys_measure(ys, models[ck], opts, win, ids[0], args.threads, args.decode_only)
            else:
                rep["lc"][name] = lc_measure(lcpp, ggufs[name], text, args.threads, args.lc_poll, args.decode_only)
        rep["loadavg_end"] = loadavg()
        reps.append(rep)
        log(json.dumps(rep))
        if args.json:   # what is measured so far survives an interrupted run
            with open(args.json + ".partial", "w") as f:
                json.dump({"shape": args.shape, "reps": reps}, f, indent=1)
    res = {"shape": args.shape, "reps": reps,
           "files": {k: os.path.getsize(os.path.join(v, "model.safetensors")) for k, v in models.items()},
           "ggufs": {k: os.path.getsize(v) for k, v in ggufs.items()}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    report(res)


def report(res):
    reps = res["reps"]
    commit = next((x.get("commit") for r in reps for x in r["lc"].values() if x.get("commit")), "?")
    print(f"### {res['shape']}: {len(reps)} interleaved repetitions; median (min–max); llama.cpp {commit}\n")
    print("| configuration | scoring 1024 tok/s | decode tok/s | peak RSS score / generate (MB) |")
    print("|---|---|---|---|")
    ran = [n for n, _, _ in YS_CONFIGS if n in reps[0]["ys"]]
    for n in ran:
        g = lambda k: stats([r["ys"][n].get(k) for r in reps])  # noqa: E731
        print(f"| yardstick {n} | {fmt(g('score_tps'))} | {fmt(g('decode_tps'))} | "
              f"{fmt(g('rss_score_mb'), 0)} / {fmt(g('rss_gen_mb'), 0)} |")
    for q in reps[0]["lc"]:
        g = lambda k: stats([r["lc"][q].get(k) for r in reps])  # noqa: E731
        print(f"| llama.cpp {q} | {fmt(g('ppl_tps'))} (perplexity) | "
              f"{fmt(g('tg_tps'))} (tg{DECODE}) | {fmt(g('rss_ppl_mb'), 0)} / {fmt(g('rss_bench_mb'), 0)} |")
    print()
    print("| yardstick, per CPU second (user + system; less sensitive to other processes) | scoring tok/CPU-s | decode tok/CPU-s |")
    print("|---|---|---|")
    for n in ran:
        g = lambda k: stats([r["ys"][n].get(k) for r in reps])  # noqa: E731
        print(f"| {n} | {fmt(g('score_tok_per_cpu_s'))} | {fmt(g('decode_tok_per_cpu_s'))} |")
    print()
    starts = ", ".join("%.1f" % r["loadavg_start"] for r in reps)
    print(f"load average (1 min) at the start of each repetition: {starts}")
    print()
    targets = [
        ("decode: bf16 weights >= 1.8x our fp32", lambda r: r["ys"]["bf16 weights"]["decode_tps"] / r["ys"]["fp32"]["decode_tps"], 1.8),
        ("decode: int8 >= llama.cpp Q8_0 tg", lambda r: r["ys"]["int8"]["decode_tps"] / r["lc"]["Q8_0"]["tg_tps"], 1.0),
        ("decode: int4 g32 >= llama.cpp Q4_0 tg", lambda r: r["ys"]["int4 g32"]["decode_tps"] / r["lc"]["Q4_0"]["tg_tps"], 1.0),
        ("scoring: bf16 weights >= 0.9x our fp32", lambda r: r["ys"]["bf16 weights"]["score_tps"] / r["ys"]["fp32"]["score_tps"], 0.9),
        ("scoring: int8 >= 0.9x our fp32", lambda r: r["ys"]["int8"]["score_tps"] / r["ys"]["fp32"]["score_tps"], 0.9),
        ("scoring: int4 g32 >= 0.9x our fp32", lambda r: r["ys"]["int4 g32"]["score_tps"] / r["ys"]["fp32"]["score_tps"], 0.9),
        ("scoring: --compute bf16 >= 1.6x our fp32", lambda r: r["ys"]["compute bf16"]["score_tps"] / r["ys"]["fp32"]["score_tps"], 1.6),
        ("the same, per CPU-s: decode bf16 weights / fp32", lambda r: r["ys"]["bf16 weights"]["decode_tok_per_cpu_s"] / r["ys"]["fp32"]["decode_tok_per_cpu_s"], 1.8),
        ("the same, per CPU-s: scoring bf16 weights / fp32", lambda r: r["ys"]["bf16 weights"]["score_tok_per_cpu_s"] / r["ys"]["fp32"]["score_tok_per_cpu_s"], 0.9),
        ("the same, per CPU-s: scoring int8 / fp32", lambda r: r["ys"]["int8"]["score_tok_per_cpu_s"] / r["ys"]["fp32"]["score_tok_per_cpu_s"], 0.9),
        ("the same, per CPU-s: scoring int4 g32 / fp32", lambda r: r["ys"]["int4 g32"]["score_tok_per_cpu_s"] / r["ys"]["fp32"]["score_tok_per_cpu_s"], 0.9),
        ("the same, per CPU-s: scoring --compute bf16 / fp32", lambda r: r["ys"]["compute bf16"]["score_tok_per_cpu_s"] / r["ys"]["fp32"]["score_tok_per_cpu_s"], 1.6),
        ("decode: int8 + head int8 >= llama.cpp Q8_0 tg", lambda r: r["ys"]["int8 + head int8"]["decode_tps"] / r["lc"]["Q8_0"]["tg_tps"], 1.0),
        ("decode: int4 g32 + head int8 >= llama.cpp Q4_0 tg", lambda r: r["ys"]["int4 g32 + head int8"]["decode_tps"] / r["lc"]["Q4_0"]["tg_tps"], 1.0),
        ("decode: int4 (g128) >= llama.cpp Q4_0 tg", lambda r: r["ys"]["int4"]["decode_tps"] / r["lc"]["Q4_0"]["tg_tps"], 1.0),
        ("decode: int4 (g128) + head int8 >= llama.cpp Q4_0 tg", lambda r: r["ys"]["int4 + head int8"]["decode_tps"] / r["lc"]["Q4_0"]["tg_tps"], 1.0),
        ("decode: int4 (g128) + head int4 >= llama.cpp Q4_0 tg", lambda r: r["ys"]["int4 + head int4"]["decode_tps"] / r["lc"]["Q4_0"]["tg_tps"], 1.0),
        ("scoring: int8 --compute int8 >= llama.cpp Q8_0 perplexity", lambda r: r["ys"]["int8 compute int8"]["score_tps"] / r["lc"]["Q8_0"]["ppl_tps"], 1.0),
        ("scoring: int8 + head int8 --compute int8 >= llama.cpp Q8_0 perplexity", lambda r: r["ys"]["int8 + head int8 compute int8"]["score_tps"] / r["lc"]["Q8_0"]["ppl_tps"], 1.0),
        ("(information) scoring: int8, fp32 arithmetic / llama.cpp Q8_0 perplexity", lambda r: r["ys"]["int8"]["score_tps"] / r["lc"]["Q8_0"]["ppl_tps"], None),
        ("(information) decode: fp32 / llama.cpp F32 or F16 tg", lambda r: r["ys"]["fp32"]["decode_tps"] / r["lc"].get("F32", r["lc"]["F16"])["tg_tps"], None),
        ("(information) decode: bf16 weights / llama.cpp F16 tg", lambda r: r["ys"]["bf16 weights"]["decode_tps"] / r["lc"]["F16"]["tg_tps"], None),
        ("(information) scoring: fp32 / llama.cpp F32 or F16 perplexity", lambda r: r["ys"]["fp32"]["score_tps"] / r["lc"].get("F32", r["lc"]["F16"])["ppl_tps"], None),
    ]
    print("| target (ratio within each repetition) | median (min–max) | |")
    print("|---|---|---|")
    for name, f, lim in targets:
        try:
            s = stats([f(r) for r in reps])
        except KeyError:   # a configuration this run left out (--only)
            continue
        verdict = "" if lim is None else ("**met**" if s["median"] >= lim else "**not met**")
        if lim is not None and s["min"] < lim <= s["median"]:
            verdict += " (not in every repetition)"
        print(f"| {name} | {fmt(s, 2)}x | {verdict} |")
    print()
    print("files (bytes): " + ", ".join(f"{k} {v:,}" for k, v in {**res["files"], **res["ggufs"]}.items()))


def cmd_memory(args):
    build = args.build or os.path.join(ROOT, "build-rel")
    ys = os.path.join(build, "eval", "yardstick")
    d = os.path.join(args.workdir, args.shape)
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        t = time.time()
        make_llama(args.shape, d)
        log(f"wrote {d} in {time.time() - t:.0f} s")
    size = os.path.getsize(os.path.join(d, "model.safetensors"))
    text = args.text
    _, out, _, _ = run([ys, "tokenize", "--model", d, "--json", "--no-special-tokens", "--file", text])
    ids = json.loads(out)["ids"][:args.tokens]
    win = os.path.join(d, "win.ids")
    with open(win, "w") as f:
        f.write(" ".join(map(str, ids)) + "\n")
    res = {"shape": args.shape, "file_bytes": size, "tokens": len(ids), "runs": []}
    for cmd in ([ys, "generate", "--model", d, "--prompt-ids", str(ids[0]), "--max-tokens", "1",
                 "--threads", str(args.threads)],
                [ys, "logprobs", "--model", d, "--ids", win, "--threads", str(args.threads)]):
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t
        err = p.stderr.decode(errors="replace")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        res["runs"].append({"cmd": cmd[1], "rc": p.returncode, "wall_s": wall,
                            "peak_rss_mb": int(m.group(1)) * 1024 / 1e6 if m else None,
                            "loadavg": loadavg(), "tail": err[-600:] if p.returncode else ""})
        log(json.dumps(res["runs"][-1]))
    g, s = res["runs"]
    if g["rc"] == 0 and s["rc"] == 0:
        res["score_tps_net"] = len(ids) / max(s["wall_s"] - g["wall_s"], 1e-6)
    print(json.dumps(res, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if not args.keep:
        shutil.rmtree(d)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["bench", "memory", "make", "report"])
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--shape", required=True, choices=["gpt2s"] + list(LLAMA))
    ap.add_argument("--workdir", default="/tmp/ys_bq")
    ap.add_argument("--build", help="yardstick build folder (default build-rel)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=SEQ)
    ap.add_argument("--text", default=os.path.join(SHARED, "data", "lm", "wikitext-2", "test.txt"))
    ap.add_argument("--json")
    ap.add_argument("--only", help="bench: only these yardstick configurations and GGUF types (comma-separated names)")
    ap.add_argument("--decode-only", action="store_true", help="bench: decode only (no scoring runs)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--lc-poll", type=int, default=None,
                    help="llama.cpp's --poll (default: its own, 50); 0 on a busy machine")
    ap.add_argument("--f32", action="store_true")
    args = ap.parse_args()
    if args.cmd == "bench":
        cmd_bench(args)
    elif args.cmd == "report":   # the tables again from a --json (or .partial) file
        with open(args.dir) as f:
            res = json.load(f)
        res.setdefault("files", {})
        res.setdefault("ggufs", {})
        report(res)
    elif args.cmd == "memory":
        cmd_memory(args)
    else:
        if not args.dir:
            sys.exit("make: DIR missing")
        if args.shape == "gpt2s":
            make_gpt2s(args.dir, args.dir.rstrip("/") + "-f32")
        else:
            make_llama(args.shape, args.dir, args.dir.rstrip("/") + "-f32" if args.f32 else None)


if __name__ == "__main__":
    main()
