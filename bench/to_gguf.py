#!/usr/bin/python3
"""Write a GPT-2 safetensors checkpoint (bench/make_gpt2_small.py's) as a
GGUF F32 file for llama.cpp, with llama.cpp's own gguf-py writer.

    PYTHONPATH=$LLAMA_CPP_DIR/gguf-py /usr/bin/python3 bench/to_gguf.py MODEL_DIR OUT.gguf

Why not llama.cpp's convert_hf_to_gguf.py: it reads the vocabulary through
Hugging Face transformers' AutoTokenizer, which cannot be installed here.
This script does what its GPT2Model class does, without transformers:

  * hyper-parameters: gpt2.block_count, context_length, embedding_length,
    feed_forward_length (4 * n_embd), attention.head_count,
    attention.layer_norm_epsilon, general.file_type = 0 (ALL_F32);
  * tensors, F32, renamed as gguf-py's TENSOR_NAMES for MODEL_ARCH.GPT2:
      wte -> token_embd, wpe -> position_embd, ln_f -> output_norm,
      h.N.ln_1 -> blk.N.attn_norm,  h.N.attn.c_attn -> blk.N.attn_qkv,
      h.N.attn.c_proj -> blk.N.attn_output, h.N.ln_2 -> blk.N.ffn_norm,
      h.N.mlp.c_fc -> blk.N.ffn_up, h.N.mlp.c_proj -> blk.N.ffn_down;
    the four Conv1D weights transposed ([in, out] -> [out, in]), and wte
    written a second time as `output` (GPT-2's tied head: this llama.cpp
    version requires an output tensor);
  * vocabulary as its _set_vocab_gpt2: tokenizer.ggml.model "gpt2", pre
    "gpt-2", the tokens of vocab.json by id, token types (NORMAL, CONTROL for
    the added special token <|endoftext|>), then gguf.SpecialVocab for the
    merges and the bos/eos ids.
"""
import json
import os
import struct
import sys

import numpy as np

# gguf-py imports sentencepiece at module level for vocabularies this script
# never builds (SentencePiece models); Debian has no package for it here, so
# an empty stand-in satisfies the import.
try:
    import sentencepiece  # noqa: F401
except ImportError:
    import types
    sp = types.ModuleType("sentencepiece")
    sp.SentencePieceProcessor = None
    sys.modules["sentencepiece"] = sp
try:
    import gguf
except ImportError as e:
    sys.exit(f"cannot import gguf-py ({e}): set PYTHONPATH=$LLAMA_CPP_DIR/gguf-py")

ST_NP = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    """name -> numpy array (memory-mapped, read-only)."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
    base = 8 + hlen
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        if h["dtype"] not in ST_NP:
            continue  # e.g. the BOOL attn.bias buffer older checkpoints carry
        a, b = h["data_offsets"]
        out[name] = mm[base + a:base + b].view(ST_NP[h["dtype"]]).reshape(h["shape"])
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    W = read_safetensors(os.path.join(src, "model.safetensors"))
    W = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in W.items()}
    L, H = cfg["n_layer"], cfg["n_embd"]
    T = gguf.TENSOR_NAMES
    MT = gguf.MODEL_TENSOR

    w = gguf.GGUFWriter(dst, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.GPT2])
    w.add_name("yardstick-bench-gpt2-small-random")
    w.add_block_count(L)
    w.add_context_length(cfg.get("n_ctx", cfg["n_positions"]))
    w.add_embedding_length(H)
    w.add_feed_forward_length(cfg.get("n_inner") or 4 * H)
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    # vocabulary (as convert_hf_to_gguf.py's _set_vocab_gpt2)
    with open(os.path.join(src, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    added = set()
    tj = os.path.join(src, "tokenizer.json")
    if os.path.exists(tj):
        with open(tj, encoding="utf-8") as f:
            added = {t["content"] for t in json.load(f).get("added_tokens", []) if t.get("special")}
    rev = {i: t for t, i in vocab.items()}
    tokens, types = [], []
    for i in range(cfg["vocab_size"]):
        if i not in rev:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(rev[i])
            types.append(gguf.TokenType.CONTROL if rev[i] in added else gguf.TokenType.NORMAL)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(src, load_merges=True, n_vocab=cfg["vocab_size"]).add_to_gguf(w)

    def put(kind, suffix, arr, bid=None, transpose=False):
        name = T[kind].format(bid=bid) + "." + suffix
        a = np.ascontiguousarray(arr.T if transpose else arr, dtype=np.float32)
        w.add_tensor(name, a)

    put(MT.TOKEN_EMBD, "weight", W["wte.weight"])
    put(MT.POS_EMBD, "weight", W["wpe.weight"])
    put(MT.OUTPUT_NORM, "weight", W["ln_f.weight"])
    put(MT.OUTPUT_NORM, "bias", W["ln_f.bias"])
    put(MT.OUTPUT, "weight", W["wte.weight"])  # tied head, stored twice
    for l in range(L):
        p = f"h.{l}."
        put(MT.ATTN_NORM, "weight", W[p + "ln_1.weight"], l)
        put(MT.ATTN_NORM, "bias", W[p + "ln_1.bias"], l)
        put(MT.ATTN_QKV, "weight", W[p + "attn.c_attn.weight"], l, transpose=True)
        put(MT.ATTN_QKV, "bias", W[p + "attn.c_attn.bias"], l)
        put(MT.ATTN_OUT, "weight", W[p + "attn.c_proj.weight"], l, transpose=True)
        put(MT.ATTN_OUT, "bias", W[p + "attn.c_proj.bias"], l)
        put(MT.FFN_NORM, "weight", W[p + "ln_2.weight"], l)
        put(MT.FFN_NORM, "bias", W[p + "ln_2.bias"], l)
        put(MT.FFN_UP, "weight", W[p + "mlp.c_fc.weight"], l, transpose=True)
        put(MT.FFN_UP, "bias", W[p + "mlp.c_fc.bias"], l)
        put(MT.FFN_DOWN, "weight", W[p + "mlp.c_proj.weight"], l, transpose=True)
        put(MT.FFN_DOWN, "bias", W[p + "mlp.c_proj.bias"], l)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(json.dumps({"gguf": dst, "bytes": os.path.getsize(dst), "tensors": 4 + 1 + 12 * L}))


if __name__ == "__main__":
    main()
