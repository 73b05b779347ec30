#!/usr/bin/python3
"""The bundled tiny model: a random-weight GPT-2 (2 layers, 32 wide, 1024
positions) with a small byte-level BPE tokenizer (256 bytes, merges learnt
from the built-in sample data, <|endoftext|>), so `yardstick run` works out
of the box and the runner's tests have a model with a real tokenizer. It
knows nothing; its scores are chance-level.

Run from the repository root: /usr/bin/python3 tests/parity/gen/gen_tiny_model.py
Writes tests/data/models/tiny/{config.json,model.safetensors,tokenizer.json}.
"""
import collections
import glob
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from gen_models import gpt2_weights, write_safetensors  # noqa: E402

OUT = "tests/data/models/tiny"
N_MERGES = 200


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable code points."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_merges(text, n):
    """Plain BPE training on space-prefixed words of the byte-mapped text."""
    b2u = bytes_to_unicode()
    words = collections.Counter()
    for w in text.split():
        words[tuple(b2u[b] for b in (" " + w).encode())] += 1
    merges = []
    for _ in range(n):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    return merges


def main():
    text = ""
    for path in sorted(glob.glob("tasks/samples/**/*", recursive=True)):
        if os.path.isfile(path) and not path.endswith(".md"):
            text += open(path, encoding="utf-8").read() + "\n"
    merges = learn_merges(text, N_MERGES)
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: i for i, b in enumerate(sorted(b2u))}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    eot = len(vocab)
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": eot + 1,
           "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 1024, "n_inner": None,
           "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "scale_attn_weights": True,
           "tie_word_embeddings": True, "bos_token_id": eot, "eos_token_id": eot,
           "_name_or_path": "yardstick-tiny (random weights, a test fixture)"}
    g = torch.Generator().manual_seed(2026)
    W = gpt2_weights(cfg, g, "")
    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "model.safetensors"), {k: v.to(torch.float32) for k, v in W.items()})
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}, f)
    print(f"vocab {eot + 1}, {len(merges)} merges")


if __name__ == "__main__":
    main()
