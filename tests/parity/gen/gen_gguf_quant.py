#!/usr/bin/python3
"""Quantized GGUF models and float64 references for
tests/parity/test_gguf_model.c (engine: gemm.h "GGUF blocks").

    PYTHONPATH=$LLAMA_CPP_DIR/gguf-py /usr/bin/python3 tests/parity/gen/gen_gguf_quant.py

writes tests/data/gguf/quant/<name>.gguf and <name>.json:

  qmix_llama   a llama (hidden 256, 4 heads of 64, 2 kv heads, ffn 256,
               1 block, vocab 64, untied) whose matrices use every
               quantized type the engine reads: attn_q Q4_K, attn_k Q5_K,
               attn_v Q6_K, attn_output Q8_0, ffn_gate Q4_0, ffn_up Q4_1,
               ffn_down Q5_0, token_embd Q5_1, output Q6_K (norms F32).
               The legacy types are random normal weights quantized by
               gguf-py; gguf-py has no K-quant quantizer, so the K types are
               random blocks (random codes and 6-bit scales, small random
               half scales), which exercise every code anyway.
  q8_qwen2     the qwen2 fixture (tests/data/models/qwen2: tied head, q/k/v
               biases) with every matrix and the embedding Q8_0.
  q4_gpt2      the gpt2 fixture with every matrix Q4_0 (c_attn split by
               rows from the blocks) and the position embedding Q8_0 (read
               through the checkpoint's dequantized F32 view).

The reference: the weights exactly as gguf-py's numpy code dequantizes
them (the llama q/k rows put back in Hugging Face order, as the
converter's permutation is undone), upcast to float64, through
gen_models.py's float64 forward passes; the JSON holds the ids and every
position's logits. The engine must be within 1e-4.
"""
import json
import os
import sys

import numpy as np
import torch

from gguf_py import load as _load_gguf  # noqa: E402

gguf = _load_gguf()
quants = gguf.quants

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_models  # noqa: E402  (the float64 reference forwards)
from gen_gguf_models import read_safetensors, permute  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "data", "gguf", "quant")
T = gguf.GGMLQuantizationType
LEGACY = (T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1)


def kblocks(rng, qt, rows, k):
    """Random K-quant blocks with small positive half scales."""
    bs, tb = gguf.GGML_QUANT_SIZES[qt]
    raw = rng.integers(0, 256, (rows * k // bs, tb), dtype=np.uint8)
    scale = {T.Q4_K: 1e-4, T.Q5_K: 5e-5, T.Q6_K: 1.5e-5}[qt]
    halves = (rng.uniform(0.5, 1.0, (raw.shape[0], 2)) * scale).astype(np.float16).view(np.uint8)
    if qt == T.Q6_K:
        raw[:, 208:210] = halves[:, 0:2]
    else:
        raw[:, 0:4] = halves.reshape(-1, 4)
    return raw.reshape(rows, -1)


def quantized(rng, qt, w):
    """(raw blocks [rows, row bytes], dequantized float32 [rows, k]) of w
    ([rows, k], float32) in type qt (K types: random blocks instead)."""
    rows, k = w.shape
    if qt in LEGACY:
        raw = quants.quantize(w.astype(np.float32), qt)
    elif qt == T.F32:
        raw = w.astype(np.float32).view(np.uint8)
    else:
        raw = kblocks(rng, qt, rows, k)
    deq = quants.dequantize(raw, qt) if qt != T.F32 else w.astype(np.float32)
    return raw, deq.astype(np.float32).reshape(rows, k)


def sequences(V):
    g = torch.Generator().manual_seed(7)
    return [torch.randint(0, V, (n,), generator=g).tolist() for n in (2, 9, 33)]


def write_expected(name, cfg, W64, V):
    seqs = []
    for ids in sequences(V):
        logits = gen_models.forward(cfg, W64, ids)
        seqs.append({"ids": ids, "logits": logits[:-1].reshape(-1).tolist()})
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump({"model": name, "reference": "gguf-py dequantization, float64 gen_models.py forward",
                   "vocab": V, "sequences": seqs}, f)
        f.write("\n")


def qmix(rng):
    H, nh, nkv, hd, F, V = 256, 4, 2, 64, 256, 64
    cfg = gen_models.llama_cfg("LlamaForCausalLM", "llama", vocab_size=V, hidden_size=H, intermediate_size=F,
                               num_hidden_layers=1, num_attention_heads=nh, num_key_value_heads=nkv,
                               rms_norm_eps=1e-5)
    w = gguf.GGUFWriter(os.path.join(OUT, "qmix_llama.gguf"), "llama")
    w.add_block_count(1)
    w.add_context_length(128)
    w.add_embedding_length(H)
    w.add_feed_forward_length(F)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(V)
    w.add_rope_dimension_count(hd)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    W = {}

    def mat(gname, hfname, qt, rows, k, std=0.05, perm=None):
        src = rng.standard_normal((rows, k)).astype(np.float32) * std
        raw, deq = quantized(rng, qt, src)
        w.add_tensor(gname, raw, raw_dtype=qt)
        # the stored (GGUF-order) rows, back in Hugging Face order
        if perm is not None:
            n = deq.shape[0] // perm // 2
            deq = deq.reshape(perm, n, 2, k).swapaxes(1, 2).reshape(rows, k)
        W[hfname] = deq

    def vec(gname, hfname, n):
        v = (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)
        w.add_tensor(gname, v)
        W[hfname] = v

    mat("token_embd.weight", "model.embed_tokens.weight", T.Q5_1, V, H, std=1.0)
    mat("output.weight", "lm_head.weight", T.Q6_K, V, H)
    vec("output_norm.weight", "model.norm.weight", H)
    p = "model.layers.0."
    vec("blk.0.attn_norm.weight", p + "input_layernorm.weight", H)
    vec("blk.0.ffn_norm.weight", p + "post_attention_layernorm.weight", H)
    mat("blk.0.attn_q.weight", p + "self_attn.q_proj.weight", T.Q4_K, nh * hd, H, perm=nh)
    mat("blk.0.attn_k.weight", p + "self_attn.k_proj.weight", T.Q5_K, nkv * hd, H, perm=nkv)
    mat("blk.0.attn_v.weight", p + "self_attn.v_proj.weight", T.Q6_K, nkv * hd, H)
    mat("blk.0.attn_output.weight", p + "self_attn.o_proj.weight", T.Q8_0, H, nh * hd)
    mat("blk.0.ffn_gate.weight", p + "mlp.gate_proj.weight", T.Q4_0, F, H)
    mat("blk.0.ffn_up.weight", p + "mlp.up_proj.weight", T.Q4_1, F, H)
    mat("blk.0.ffn_down.weight", p + "mlp.down_proj.weight", T.Q5_0, H, F)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    W64 = {k: torch.tensor(v, dtype=torch.float64) for k, v in W.items()}
    write_expected("qmix_llama", cfg, W64, V)


def to_f32(arr, gt):
    if gt == T.BF16:
        return (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.astype(np.float32)


def q8_qwen2(rng):
    src = os.path.join(gen_models.OUT, "qwen2")
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    Wst = read_safetensors(os.path.join(src, "model.safetensors"))
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w = gguf.GGUFWriter(os.path.join(OUT, "q8_qwen2.gguf"), "qwen2")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(H)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    blk = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
           "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
           "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    W = {}
    for name, (arr, gt) in Wst.items():
        v = to_f32(arr, gt)
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        else:
            _, _, l, rest = name.split(".", 3)
            mod, suffix = rest.rsplit(".", 1)
            gname = f"blk.{l}.{blk[mod]}.{suffix}"
        if v.ndim == 2:
            raw, deq = quantized(rng, T.Q8_0, v)
            w.add_tensor(gname, raw, raw_dtype=T.Q8_0)
            W[name] = deq
        else:
            w.add_tensor(gname, v)
            W[name] = v
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    W64 = {k: torch.tensor(v, dtype=torch.float64) for k, v in W.items()}
    write_expected("q8_qwen2", cfg, W64, cfg["vocab_size"])


def q4_gpt2(rng):
    src = os.path.join(gen_models.OUT, "gpt2")
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    Wst = read_safetensors(os.path.join(src, "model.safetensors"))
    H = cfg["n_embd"]
    w = gguf.GGUFWriter(os.path.join(OUT, "q4_gpt2.gguf"), "gpt2")
    w.add_block_count(cfg["n_layer"])
    w.add_context_length(cfg["n_positions"])
    w.add_embedding_length(H)
    w.add_feed_forward_length(4 * H)
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    blk = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
           "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    W = {"_prefix": ""}
    for name, (arr, gt) in Wst.items():
        v = to_f32(arr, gt)
        if name in ("wte.weight", "wpe.weight"):
            qt = T.Q4_0 if name == "wte.weight" else T.Q8_0
            raw, deq = quantized(rng, qt, v)
            w.add_tensor("token_embd.weight" if name == "wte.weight" else "position_embd.weight", raw, raw_dtype=qt)
            W[name] = torch.tensor(deq, dtype=torch.float64)
            continue
        if name.startswith("ln_f."):
            w.add_tensor("output_norm." + name.split(".")[1], v)
            W[name] = torch.tensor(v, dtype=torch.float64)
            continue
        _, l, rest = name.split(".", 2)
        mod, suffix = rest.rsplit(".", 1)
        gname = f"blk.{l}.{blk[mod]}.{suffix}"
        if suffix == "weight" and v.ndim == 2:
            raw, deq = quantized(rng, T.Q4_0, np.ascontiguousarray(v.T))  # Conv1D [in, out] -> [out, in]
            w.add_tensor(gname, raw, raw_dtype=T.Q4_0)
            W[name] = torch.tensor(deq.T.copy(), dtype=torch.float64)  # the reference's Conv1D layout
        else:
            w.add_tensor(gname, v)
            W[name] = torch.tensor(v, dtype=torch.float64)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_expected("q4_gpt2", cfg, W, cfg["vocab_size"])


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(13)
    qmix(rng)
    q8_qwen2(rng)
    q4_gpt2(rng)


if __name__ == "__main__":
    main()
