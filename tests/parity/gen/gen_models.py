#!/usr/bin/python3
"""Tiny random-weight checkpoints and float64 reference outputs for the
engine's forward pass (tests/parity/test_model.c).

Hugging Face transformers/safetensors are not installable here, so this file
holds a compact, independent PyTorch re-statement of each architecture's
forward pass as HF's modeling code defines it (GPT2LMHeadModel,
LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM), evaluated in
float64, plus a minimal safetensors writer. See README_models.md.

Run with Debian's interpreter:  /usr/bin/python3 tests/parity/gen/gen_models.py
Writes tests/data/models/<name>/{config.json, model.safetensors or shards +
model.safetensors.index.json, expected.json}. Deterministic (fixed seeds).
"""
import json
import math
import os
import struct
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "models")

F64 = torch.float64

# ---------------------------------------------------------------- safetensors

ST_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.bool: "BOOL", torch.uint8: "U8"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()  # numpy has no bf16
    if t.dtype == torch.bool:
        return t.to(torch.uint8).numpy().tobytes()
    return t.numpy().tobytes()  # x86: already little-endian


def write_safetensors(path, tensors):
    """tensors: dict name -> torch tensor (in its storage dtype)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)  # keeps the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- references
# Each forward takes a dict of float64 tensors (the stored values, upcast)
# and a list of ids, and returns float64 logits [T, vocab].

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased, as nn.LayerNorm
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def attend(q, k, v, window=None):
    """q [nh, T, hd], k/v [nkv, T, hd]; causal (+ sliding window) softmax
    attention with 1/sqrt(hd) scaling; query head h reads kv head
    h // (nh // nkv). Returns [T, nh*hd]."""
    nh, T, hd = q.shape
    rep = nh // k.shape[0]
    k = k.repeat_interleave(rep, dim=0)
    v = v.repeat_interleave(rep, dim=0)
    s = q @ k.transpose(1, 2) / math.sqrt(hd)
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = j <= i
    if window is not None:
        allowed &= j > i - window
    s = s.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(s, dim=-1)
    return (p @ v).transpose(0, 1).reshape(T, nh * hd)


def gpt2_forward(W, cfg, ids):
    T, H, nh = len(ids), cfg["n_embd"], cfg["n_head"]
    hd, eps, pre = H // nh, cfg["layer_norm_epsilon"], W["_prefix"]
    x = W[pre + "wte.weight"][ids] + W[pre + "wpe.weight"][:T]
    for l in range(cfg["n_layer"]):
        p = f"{pre}h.{l}."
        h = layer_norm(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
        q, k, v = (t.reshape(T, nh, hd).transpose(0, 1) for t in qkv.split(H, dim=-1))
        a = attend(q, k, v)
        x = x + a @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        h = layer_norm(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        m = gelu_tanh(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        x = x + m @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
    x = layer_norm(x, W[pre + "ln_f.weight"], W[pre + "ln_f.bias"], eps)
    return x @ W.get("_head", W[pre + "wte.weight"]).T  # tied lm_head (_head: gen_quant.py's quantized head)


def rope(x, theta):
    """x [n, T, hd]; HF's half-rotation layout: pairs (i, i + hd/2)."""
    n, T, hd = x.shape
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=F64) / hd)
    ang = torch.arange(T, dtype=F64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    rot = torch.cat([-x[..., hd // 2:], x[..., :hd // 2]], -1)
    return x * cos + rot * sin


def llama_forward(W, cfg, ids):
    T, H = len(ids), cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or H // nh
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    window = cfg.get("sliding_window") if cfg["model_type"] == "mistral" else None
    x = W["model.embed_tokens.weight"][ids]

    def lin(name, h):
        y = h @ W[name + ".weight"].T  # nn.Linear: [out, in]
        return y + W[name + ".bias"] if name + ".bias" in W else y

    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = lin(p + "self_attn.q_proj", h).reshape(T, nh, hd).transpose(0, 1)
        k = lin(p + "self_attn.k_proj", h).reshape(T, nkv, hd).transpose(0, 1)
        v = lin(p + "self_attn.v_proj", h).reshape(T, nkv, hd).transpose(0, 1)
        a = attend(rope(q, theta), rope(k, theta), v, window)
        x = x + lin(p + "self_attn.o_proj", a)
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = lin(p + "mlp.gate_proj", h)
        x = x + lin(p + "mlp.down_proj", g * torch.sigmoid(g) * lin(p + "mlp.up_proj", h))
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ W.get("_head", head).T


# ---------------------------------------------------------------- models

def rnd(g, *shape, std=1.0, mean=0.0):
    return torch.randn(*shape, generator=g, dtype=torch.float32) * std + mean


def gpt2_weights(cfg, g, prefix):
    H, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    I = cfg.get("n_inner") or 4 * H
    s = 1.0 / math.sqrt(H)
    W = {prefix + "wte.weight": rnd(g, V, H, std=0.4), prefix + "wpe.weight": rnd(g, P, H, std=0.3),
         prefix + "ln_f.weight": rnd(g, H, std=0.1, mean=1.0), prefix + "ln_f.bias": rnd(g, H, std=0.1)}
    for l in range(L):
        p = f"{prefix}h.{l}."
        W.update({
            p + "ln_1.weight": rnd(g, H, std=0.1, mean=1.0), p + "ln_1.bias": rnd(g, H, std=0.1),
            p + "attn.c_attn.weight": rnd(g, H, 3 * H, std=2 * s), p + "attn.c_attn.bias": rnd(g, 3 * H, std=0.1),
            p + "attn.c_proj.weight": rnd(g, H, H, std=s), p + "attn.c_proj.bias": rnd(g, H, std=0.1),
            p + "ln_2.weight": rnd(g, H, std=0.1, mean=1.0), p + "ln_2.bias": rnd(g, H, std=0.1),
            p + "mlp.c_fc.weight": rnd(g, H, I, std=s), p + "mlp.c_fc.bias": rnd(g, I, std=0.1),
            p + "mlp.c_proj.weight": rnd(g, I, H, std=1.0 / math.sqrt(I)), p + "mlp.c_proj.bias": rnd(g, H, std=0.1),
        })
    return W


def llama_weights(cfg, g, qkv_bias):
    H, V, L, I = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or H // nh
    s = 1.0 / math.sqrt(H)
    W = {"model.embed_tokens.weight": rnd(g, V, H, std=0.4),
         "model.norm.weight": rnd(g, H, std=0.1, mean=1.0)}
    if not cfg.get("tie_word_embeddings"):
        W["lm_head.weight"] = rnd(g, V, H, std=1.5 * s)
    for l in range(L):
        p = f"model.layers.{l}."
        W.update({
            p + "input_layernorm.weight": rnd(g, H, std=0.1, mean=1.0),
            p + "post_attention_layernorm.weight": rnd(g, H, std=0.1, mean=1.0),
            p + "self_attn.q_proj.weight": rnd(g, nh * hd, H, std=2 * s),
            p + "self_attn.k_proj.weight": rnd(g, nkv * hd, H, std=2 * s),
            p + "self_attn.v_proj.weight": rnd(g, nkv * hd, H, std=s),
            p + "self_attn.o_proj.weight": rnd(g, H, nh * hd, std=1.0 / math.sqrt(nh * hd)),
            p + "mlp.gate_proj.weight": rnd(g, I, H, std=s),
            p + "mlp.up_proj.weight": rnd(g, I, H, std=s),
            p + "mlp.down_proj.weight": rnd(g, H, I, std=1.0 / math.sqrt(I)),
        })
        if qkv_bias:
            for n, d in (("q", nh * hd), ("k", nkv * hd), ("v", nkv * hd)):
                W[p + f"self_attn.{n}_proj.bias"] = rnd(g, d, std=0.2)
    return W


GPT2_CFG = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 96,
            "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "n_inner": None,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "scale_attn_weights": True, "tie_word_embeddings": True,
            "bos_token_id": 0, "eos_token_id": 0}


def llama_cfg(arch, mtype, **kw):
    c = {"architectures": [arch], "model_type": mtype, "vocab_size": 96, "hidden_size": 32,
         "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 4, "hidden_act": "silu", "max_position_embeddings": 128,
         "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": False,
         "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
    c.update(kw)
    return c


# name, config, weight builder, storage dtype, sharded?
MODELS = [
    ("gpt2", GPT2_CFG, lambda c, g: gpt2_weights(c, g, ""), torch.float32, False),
    # as GPT2LMHeadModel.save_pretrained writes it: "transformer." prefix, two shards,
    # and the causal-mask buffer older versions saved (a BOOL tensor to ignore)
    ("gpt2_sharded", GPT2_CFG, lambda c, g: gpt2_weights(c, g, "transformer."), torch.float32, True),
    ("llama", llama_cfg("LlamaForCausalLM", "llama"), lambda c, g: llama_weights(c, g, False),
     torch.float32, False),
    ("llama_f16_tied", llama_cfg("LlamaForCausalLM", "llama", tie_word_embeddings=True,
                                 rope_theta=500000.0, rms_norm_eps=1e-5, torch_dtype="float16"),
     lambda c, g: llama_weights(c, g, False), torch.float16, False),
    ("qwen2", llama_cfg("Qwen2ForCausalLM", "qwen2", num_key_value_heads=2, rope_theta=1000000.0,
                        tie_word_embeddings=True, use_sliding_window=False, sliding_window=4096,
                        max_window_layers=2, torch_dtype="bfloat16"),
     lambda c, g: llama_weights(c, g, True), torch.bfloat16, False),
    # head_dim 16 != hidden/heads, and a sliding window shorter than the
    # longer test sequences so the window mask matters
    ("mistral", llama_cfg("MistralForCausalLM", "mistral", num_key_value_heads=2, head_dim=16,
                          sliding_window=8),
     lambda c, g: llama_weights(c, g, False), torch.float32, False),
]

SEQ_LENS = [1, 2, 7, 16, 33, 50, 100]
GEN_PROMPT_LEN = 5
GEN_NEW = 10


def forward(cfg, W, ids):
    return gpt2_forward(W, cfg, ids) if cfg["model_type"] == "gpt2" else llama_forward(W, cfg, ids)


def main():
    os.makedirs(OUT, exist_ok=True)
    for mi, (name, cfg, build, dtype, sharded) in enumerate(MODELS):
        g = torch.Generator().manual_seed(1234 + mi)
        Wf = build(cfg, g)
        stored = {k: v.to(dtype) for k, v in Wf.items()}
        # the reference sees exactly the stored (rounded) values
        W = {k: v.to(F64) for k, v in stored.items()}
        W["_prefix"] = "transformer." if name == "gpt2_sharded" else ""
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        if sharded:
            stored["transformer.h.0.attn.bias"] = torch.tril(torch.ones(1, 1, 128, 128, dtype=torch.bool))
            names = sorted(stored)
            half = len(names) // 2
            parts = [names[:half], names[half:]]
            wm = {}
            for i, part in enumerate(parts):
                fn = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
                write_safetensors(os.path.join(d, fn), {k: stored[k] for k in part})
                wm.update({k: fn for k in part})
            size = sum(t.numel() * t.element_size() for t in stored.values())
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": size}, "weight_map": wm}, f, indent=2)
        else:
            write_safetensors(os.path.join(d, "model.safetensors"), stored)

        V = cfg["vocab_size"]
        seqs = []
        sg = torch.Generator().manual_seed(99)  # same ids for every model
        for n in SEQ_LENS:
            ids = torch.randint(0, V, (n,), generator=sg).tolist()
            logits = forward(cfg, W, ids)
            lp = torch.log_softmax(logits, -1)
            seqs.append({
                "ids": ids,
                "logprobs": [lp[t, ids[t + 1]].item() for t in range(n - 1)],
                "greedy": [int(logits[t].argmax().item() == ids[t + 1]) for t in range(n - 1)],
                "last_logits": logits[-1].tolist(),
            })
        prompt = seqs[3]["ids"][:GEN_PROMPT_LEN]
        toks, margin = list(prompt), float("inf")
        for _ in range(GEN_NEW):
            last = forward(cfg, W, toks)[-1]
            top = torch.topk(last, 2).values
            margin = min(margin, (top[0] - top[1]).item())
            toks.append(int(last.argmax().item()))
        # fp32 engine vs float64 reference: a near tie could flip argmax
        if margin < 1e-3:
            sys.exit(f"{name}: greedy top-2 margin {margin} too small; change the seed")
        exp = {"model": name, "reference": f"float64 PyTorch {torch.__version__} (gen_models.py)",
               "sequences": seqs,
               "generate": {"prompt": prompt, "max_new_tokens": GEN_NEW,
                            "tokens": toks[len(prompt):], "min_top2_margin": margin}}
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(exp, f, indent=1)
        print(f"{name}: {sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))} bytes, "
              f"greedy margin {margin:.4f}, mean lp {sum(sum(s['logprobs']) for s in seqs) / sum(len(s['logprobs']) for s in seqs):.3f}")


if __name__ == "__main__":
    main()
