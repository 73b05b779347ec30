#!/usr/bin/python3
"""GGUF files of the tiny test checkpoints (tests/data/models/*), for
tests/parity/test_gguf_model.c.

    PYTHONPATH=$LLAMA_CPP_DIR/gguf-py /usr/bin/python3 tests/parity/gen/gen_gguf_models.py

writes tests/data/gguf/models/<fixture>.gguf with gguf-py's GGUFWriter,
doing what llama.cpp's convert_hf_to_gguf.py does for these architectures
(read at llama.cpp c392e50 — we cannot run it here: it needs transformers
for the vocabulary; the fixtures with a tokenizer.json — tiny — get their
vocabulary from it as _set_vocab_gpt2 would, see add_vocab):

  * keys: <arch>.block_count, context_length (max_position_embeddings /
    n_positions), embedding_length, feed_forward_length, attention.head_count,
    head_count_kv, rope.freq_base, attention.layer_norm_rms_epsilon (or
    layer_norm_epsilon for GPT-2), key_length/value_length when config.json
    has head_dim, and for llama vocab_size and rope.dimension_count; rope
    scaling: linear (llama) and yarn (qwen2/qwen3) as type, factor and
    original context length; general.file_type;
  * tensors renamed as gguf-py's TENSOR_NAMES, in the dtype stored in the
    folder (F32, F16 or BF16: the bytes copied); llama's q_proj/k_proj rows
    permuted per head as LlamaModel.permute does; GPT-2's Conv1D weights
    transposed to [out, in]; a tied head written as no output tensor.

The test compares the log-probs of each file with its folder's, bit for
bit: both load through the same engine, so any difference is the GGUF
reading.
"""
import json
import os
import struct
import sys

import numpy as np

from gguf_py import load as _load_gguf  # noqa: E402

gguf = _load_gguf()

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "data", "models")
OUT = os.path.join(HERE, "..", "..", "data", "gguf", "models")

# safetensors dtype -> (numpy dtype of the raw elements, GGML type)
ST = {"F32": (np.float32, gguf.GGMLQuantizationType.F32), "F16": (np.float16, gguf.GGMLQuantizationType.F16),
      "BF16": (np.uint16, gguf.GGMLQuantizationType.BF16)}


def read_safetensors(path):
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        dt, gt = ST[h["dtype"]]
        out[name] = (np.frombuffer(data[a:b], dtype=dt).reshape(h["shape"]).copy(), gt)
    return out


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute (n_head already the
    kv-head count for k)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def add(w, name, arr, gt):
    arr = np.ascontiguousarray(arr)
    if gt == gguf.GGMLQuantizationType.BF16:
        w.add_tensor(name, arr.view(np.uint8), raw_dtype=gt)
    else:
        w.add_tensor(name, arr)


LLAMA_BLK = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
             "self_attn.k_norm": "attn_k_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
# gemma2/gemma3: four norms per block (tensor_mapping.py)
GEMMA2_BLK = {"post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
              "post_feedforward_layernorm": "post_ffw_norm"}
# phi3: the fused projections are stored fused (qkv_proj -> attn_qkv, gate_up_proj -> ffn_up)
PHI3_BLK = {"self_attn.qkv_proj": "attn_qkv", "mlp.gate_up_proj": "ffn_up"}
GPT2_BLK = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
            "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}


def convert(fixture, arch):
    src = os.path.join(MODELS, fixture)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    W = read_safetensors(os.path.join(src, "model.safetensors"))
    os.makedirs(OUT, exist_ok=True)
    w = gguf.GGUFWriter(os.path.join(OUT, fixture + ".gguf"), arch)
    w.add_name(fixture)
    if arch == "gptneox":   # GPTNeoXModel.set_gguf_parameters
        H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(H)
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_rope_dimension_count(int(cfg["rotary_pct"] * (H // nh)))
        w.add_head_count(nh)
        w.add_parallel_residual(cfg.get("use_parallel_residual", True))
        w.add_layer_norm_eps(cfg["layer_norm_eps"])
    elif arch == "gpt2":
        H = cfg["n_embd"]
        w.add_block_count(cfg["n_layer"])
        w.add_context_length(cfg["n_positions"])
        w.add_embedding_length(H)
        w.add_feed_forward_length(cfg.get("n_inner") or 4 * H)
        w.add_head_count(cfg["n_head"])
        w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    elif arch in ("gemma", "gemma2", "gemma3"):
        add_gemma_params(w, arch, cfg)
    elif arch == "phi3":
        add_phi3_params(w, cfg)
    else:
        H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
        nkv = cfg.get("num_key_value_heads", nh)
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(H)
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(nh)
        w.add_head_count_kv(nkv)
        w.add_rope_freq_base(cfg["rope_theta"])
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        if "head_dim" in cfg:
            w.add_key_length(cfg["head_dim"])
            w.add_value_length(cfg["head_dim"])
        rs = cfg.get("rope_scaling") or {}
        rtype = rs.get("type", rs.get("rope_type"))
        if arch == "llama":
            w.add_vocab_size(cfg["vocab_size"])
            w.add_rope_dimension_count(cfg.get("head_dim", H // nh))
            if rtype == "linear":
                w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
                w.add_rope_scaling_factor(rs["factor"])
            if rtype == "llama3":
                w.add_tensor("rope_freqs.weight", llama3_rope_factors(cfg))
        elif rtype == "yarn":
            w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            w.add_rope_scaling_factor(rs["factor"])
            w.add_rope_scaling_orig_ctx_len(rs["original_max_position_embeddings"])
    types_ = {gt for _, gt in W.values()}
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if gguf.GGMLQuantizationType.BF16 in types_ else
                    gguf.LlamaFileType.MOSTLY_F16 if gguf.GGMLQuantizationType.F16 in types_ else
                    gguf.LlamaFileType.ALL_F32)

    for name, (arr, gt) in W.items():
        if arch == "gptneox":
            neox = {"gpt_neox.embed_in.weight": "token_embd.weight", "gpt_neox.final_layer_norm.weight":
                    "output_norm.weight", "gpt_neox.final_layer_norm.bias": "output_norm.bias",
                    "embed_out.weight": "output.weight"}
            if name in neox:
                add(w, neox[name], arr, gt)
                continue
            _, _, l, rest = name.split(".", 3)
            mod, suffix = rest.rsplit(".", 1)
            if mod == "attention.query_key_value":
                # GPTNeoXModel.modify_tensors: per-head [q, k, v] regrouped into q | k | v
                nh, hd = cfg["num_attention_heads"], H // cfg["num_attention_heads"]
                if suffix == "weight":
                    q = arr.reshape(nh, 3, hd, H)
                    arr = np.concatenate([q[:, 0].reshape(-1, H), q[:, 1].reshape(-1, H), q[:, 2].reshape(-1, H)], 0)
                else:
                    q = arr.reshape(nh, 3, hd)
                    arr = np.concatenate([q[:, 0].reshape(-1), q[:, 1].reshape(-1), q[:, 2].reshape(-1)], 0)
            blk = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
                   "attention.query_key_value": "attn_qkv", "attention.dense": "attn_output",
                   "mlp.dense_h_to_4h": "ffn_up", "mlp.dense_4h_to_h": "ffn_down"}
            add(w, f"blk.{l}.{blk[mod]}.{suffix}", arr, gt)
            continue
        if arch == "gpt2":
            n = name[len("transformer."):] if name.startswith("transformer.") else name
            if n.endswith(".attn.bias") or n.endswith(".attn.masked_bias"):
                continue
            top = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
                   "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias"}
            if n in top:
                add(w, top[n], arr, gt)
                continue
            _, l, rest = n.split(".", 2)
            mod, suffix = rest.rsplit(".", 1)
            if suffix == "weight" and arr.ndim == 2:
                arr = arr.T  # Conv1D [in, out] -> [out, in]
            add(w, f"blk.{l}.{GPT2_BLK[mod]}.{suffix}", arr, gt)
            continue
        if arch.startswith("gemma") and name.endswith("norm.weight"):
            # Gemma{,2,3}Model.modify_tensors: 1 added to every norm (the
            # RMSNorm multiplies by 1 + w), in float32: the file written from
            # the F32 folder of these weights (a BF16 fixture widens exactly)
            arr = (widen(arr, gt) + np.float32(1)).astype(np.float32)
            gt = gguf.GGMLQuantizationType.F32
        if arch.startswith("gemma") and name == "lm_head.weight":
            continue   # the converter skips it: Gemma is tied
        top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
               "lm_head.weight": "output.weight"}
        if name in top:
            add(w, top[name], arr, gt)
            continue
        _, _, l, rest = name.split(".", 3)
        mod, suffix = rest.rsplit(".", 1)
        if arch == "llama" and mod == "self_attn.q_proj":
            arr = permute(arr, nh)
        if arch == "llama" and mod == "self_attn.k_proj":
            arr = permute(arr, nkv)
        blk = dict(LLAMA_BLK)
        if arch in ("gemma2", "gemma3"):
            blk.update(GEMMA2_BLK)
        if arch == "phi3":
            blk.update(PHI3_BLK)
        add(w, f"blk.{l}.{blk[mod]}.{suffix}", arr, gt)

    if arch == "phi3":
        add_phi3_rope_factors(w, cfg)
    if os.path.exists(os.path.join(src, "tokenizer.json")):
        add_vocab(w, src, cfg)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def widen(arr, gt):
    """The stored elements as float32 (BF16 is the high half of an f32)."""
    if gt == gguf.GGMLQuantizationType.BF16:
        return (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.astype(np.float32)


def add_gemma_params(w, arch, cfg):
    """GemmaModel / Gemma2Model.set_gguf_parameters (c392e50) and
    Gemma3Model's (llama.cpp a458664, TextModel's generic keys + its own):
    no rope.freq_base for gemma/gemma2 (10000 implied), head_dim as
    key/value length, softcapping and sliding window for gemma2, the
    global rope base, linear rope scaling and sliding window for gemma3.
    query_pre_attn_scalar, Gemma 3's layer pattern and local rope base are
    not written: llama.cpp derives them (see ckpt_gguf.c)."""
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(H)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(nh)
    w.add_head_count_kv(cfg.get("num_key_value_heads", nh))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    if arch == "gemma2":
        w.add_attn_logit_softcapping(cfg["attn_logit_softcapping"])
        w.add_final_logit_softcapping(cfg["final_logit_softcapping"])
        w.add_sliding_window(cfg["sliding_window"])
    if arch == "gemma3":
        w.add_rope_freq_base(cfg["rope_theta"])
        rs = cfg.get("rope_scaling") or {}
        if rs.get("rope_type", rs.get("type")) == "linear":
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(rs["factor"])
        if cfg.get("final_logit_softcapping"):
            w.add_final_logit_softcapping(cfg["final_logit_softcapping"])
        if cfg.get("sliding_window_pattern") != 1:
            w.add_sliding_window(cfg["sliding_window"])


def add_phi3_params(w, cfg):
    """Phi3MiniModel.set_gguf_parameters (llama.cpp a458664: the rotary
    dimensions int(partial_rotary_factor * n_embd) // n_head)."""
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    rope_dims = int(cfg.get("partial_rotary_factor", 1.0) * H) // nh
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_rope_scaling_orig_ctx_len(cfg["original_max_position_embeddings"])
    w.add_embedding_length(H)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(nh)
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_dimension_count(rope_dims)
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_sliding_window(cfg.get("sliding_window") or 0)


def add_phi3_rope_factors(w, cfg):
    """Phi3MiniModel.generate_extra_tensors: longrope's factors as two F32
    tensors and the attention factor as a key."""
    import math
    rs = cfg.get("rope_scaling")
    if not rs or not rs.get("long_factor"):
        return
    scale = cfg["max_position_embeddings"] / cfg["original_max_position_embeddings"]
    orig = cfg["original_max_position_embeddings"]
    w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1.0 else 1.0)
    w.add_tensor("rope_factors_long.weight", np.array(rs["long_factor"], dtype=np.float32))
    w.add_tensor("rope_factors_short.weight", np.array(rs["short_factor"], dtype=np.float32))


def llama3_rope_factors(cfg):
    """LlamaModel.generate_extra_tensors' rope_freqs, in torch float32 as
    the converter computes them."""
    import math
    import torch
    rs = cfg["rope_scaling"]
    base = cfg.get("rope_theta", 10000.0)
    dim = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor = rs.get("factor", 8.0)
    low_freq_factor = rs.get("low_freq_factor", 1.0)
    high_freq_factor = rs.get("high_freq_factor", 4.0)
    old_context_len = rs.get("original_max_position_embeddings", 8192)
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            out.append(1)
        elif wavelen > low_freq_wavelen:
            out.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32).numpy()


def add_vocab(w, src, cfg):
    """A byte-level BPE tokenizer.json as convert_hf_to_gguf.py's
    _set_vocab_gpt2 writes it: every id's piece (absent ids "[PAD<id>]",
    UNUSED), added tokens CONTROL when special else USER_DEFINED, the
    merges as "a b", the pre-tokenizer's name (GPT-2's here), bos/eos."""
    with open(os.path.join(src, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    added = {t["id"]: t for t in tj.get("added_tokens", [])}
    n = max(max(vocab.values()), max(added, default=-1)) + 1
    rev = {i: p for p, i in vocab.items()}
    tokens, types = [], []
    for i in range(n):
        if i in added:
            tokens.append(added[i]["content"])
            types.append(gguf.TokenType.CONTROL if added[i]["special"] else gguf.TokenType.USER_DEFINED)
        elif i in rev:
            tokens.append(rev[i])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])


def main():
    for fixture, arch in [("llama", "llama"), ("llama_f16_tied", "llama"), ("llama_linear", "llama"),
                          ("llama3_rope", "llama"),
                          ("qwen2", "qwen2"), ("qwen3_yarn", "qwen3"), ("gpt2", "gpt2"), ("tiny", "gpt2"),
                          ("pythia", "gptneox"), ("gemma", "gemma"), ("gemma2", "gemma2"), ("gemma3", "gemma3"),
                          ("phi3", "phi3")]:
        convert(fixture, arch)


if __name__ == "__main__":
    main()
