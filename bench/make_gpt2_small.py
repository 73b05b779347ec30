#!/usr/bin/python3
"""Write a GPT-2-small-shaped random checkpoint for bench/bench_engine.py.

    /usr/bin/python3 bench/make_gpt2_small.py DIR [--seed 2024]

DIR (keep it outside the repository, e.g. /tmp/ys_gpt2s) receives
config.json and model.safetensors: GPT2LMHeadModel, 12 layers, 768 wide,
12 heads, 1024 positions, vocabulary 50257, F32, Hugging Face's GPT-2 tensor
names (no "transformer." prefix, lm_head tied to wte) -- 124,439,808
parameters, 498 MB. Plus the real GPT-2 tokenizer files (tokenizer.json,
vocab.json, merges.txt, tokenizer_config.json, gunzipped from
/work/shared/tokenizers/gpt2 or $YS_GPT2_TOKENIZER_DIR) so text commands
(`yardstick perplexity`) and llama.cpp's vocabulary work.

The weights are seeded random numbers, scaled so that activations keep unit
order of magnitude through the 12 layers and the next-token distribution is
neither uniform nor one-hot (the script prints the mean log-probability of
random ids and the smallest greedy top-2 margin it saw, as a check):
linear weights ~ N(0, 1/fan_in), the two residual projections further
divided by sqrt(2 * n_layer) (GPT-2's own residual scaling), biases and
LayerNorm offsets ~ N(0, 0.02), LayerNorm gains ~ 1 + N(0, 0.05), wte ~
N(0, 0.1) (so logits have a standard deviation of about 3), wpe ~ N(0, 0.02).

The safetensors writer and the float64 reference forward pass come from
tests/parity/gen/gen_models.py (imported, not copied).
"""
import argparse
import gzip
import json
import math
import os
import shutil
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "parity", "gen"))
import gen_models  # noqa: E402  (write_safetensors, rnd, gpt2_forward)

CONFIG = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 50257,
    "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "n_ctx": 1024, "n_inner": None,
    "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "scale_attn_weights": True,
    "tie_word_embeddings": True, "bos_token_id": 50256, "eos_token_id": 50256, "torch_dtype": "float32",
}

TOKENIZER_FILES = ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"]


def build_weights(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    rnd = gen_models.rnd
    H, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    F = cfg["n_inner"] or 4 * H
    res = 1.0 / math.sqrt(2 * L)
    W = {"wte.weight": rnd(g, V, H, std=0.1), "wpe.weight": rnd(g, P, H, std=0.02),
         "ln_f.weight": rnd(g, H, std=0.05, mean=1.0), "ln_f.bias": rnd(g, H, std=0.02)}
    for l in range(L):
        p = f"h.{l}."
        W.update({
            p + "ln_1.weight": rnd(g, H, std=0.05, mean=1.0), p + "ln_1.bias": rnd(g, H, std=0.02),
            p + "attn.c_attn.weight": rnd(g, H, 3 * H, std=1.0 / math.sqrt(H)),
            p + "attn.c_attn.bias": rnd(g, 3 * H, std=0.02),
            p + "attn.c_proj.weight": rnd(g, H, H, std=res / math.sqrt(H)),
            p + "attn.c_proj.bias": rnd(g, H, std=0.02),
            p + "ln_2.weight": rnd(g, H, std=0.05, mean=1.0), p + "ln_2.bias": rnd(g, H, std=0.02),
            p + "mlp.c_fc.weight": rnd(g, H, F, std=1.0 / math.sqrt(H)),
            p + "mlp.c_fc.bias": rnd(g, F, std=0.02),
            p + "mlp.c_proj.weight": rnd(g, F, H, std=res / math.sqrt(F)),
            p + "mlp.c_proj.bias": rnd(g, H, std=0.02),
        })
    return W


def copy_tokenizer(src, dst):
    for name in TOKENIZER_FILES:
        plain, gz = os.path.join(src, name), os.path.join(src, name + ".gz")
        if os.path.exists(gz):
            with gzip.open(gz, "rb") as fi, open(os.path.join(dst, name), "wb") as fo:
                shutil.copyfileobj(fi, fo)
        elif os.path.exists(plain):
            shutil.copyfile(plain, os.path.join(dst, name))
        else:
            sys.exit(f"{src}: no {name} or {name}.gz")


def sanity(W, cfg, seed):
    """Mean log-probability and greedy margins of the float64 reference on a
    few random ids: sane logits are neither uniform nor saturated."""
    W64 = {k: v.to(torch.float64) for k, v in W.items()}
    W64["_prefix"] = ""
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, cfg["vocab_size"], (32,), generator=g).tolist()
    with torch.no_grad():
        logits = gen_models.gpt2_forward(W64, cfg, ids)
    lp = torch.log_softmax(logits, -1)
    mean_lp = lp[torch.arange(31), torch.tensor(ids[1:])].mean().item()
    top2 = torch.topk(logits, 2, dim=-1).values
    return {"mean_logprob_random_ids": mean_lp, "uniform_logprob": -math.log(cfg["vocab_size"]),
            "logit_std": logits.std().item(), "max_prob_mean": lp.max(-1).values.exp().mean().item(),
            "min_top2_margin": (top2[:, 0] - top2[:, 1]).min().item()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--tokenizer-dir", default=os.environ.get("YS_GPT2_TOKENIZER_DIR",
                                                              os.path.join(ROOT, "..", "shared", "tokenizers", "gpt2")))
    a = ap.parse_args()
    out = os.path.abspath(a.dir)
    if out == ROOT or out.startswith(ROOT + os.sep):
        sys.exit(f"{out}: write the 500 MB checkpoint outside the repository (e.g. /tmp/ys_gpt2s)")
    os.makedirs(out, exist_ok=True)
    W = build_weights(CONFIG, a.seed)
    nparams = sum(t.numel() for t in W.values())
    gen_models.write_safetensors(os.path.join(out, "model.safetensors"), W)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    copy_tokenizer(os.path.abspath(a.tokenizer_dir), out)
    info = {"dir": out, "params": nparams, "bytes": os.path.getsize(os.path.join(out, "model.safetensors")),
            "seed": a.seed}
    info.update(sanity(W, CONFIG, a.seed))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
