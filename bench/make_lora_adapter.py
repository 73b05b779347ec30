#!/usr/bin/python3
"""Write a random PEFT LoRA adapter for a GPT-2 or Llama-family checkpoint, to measure
what `--adapter` costs at load (time, peak RSS) on a mid-size model.

    /usr/bin/python3 bench/make_lora_adapter.py BASE_DIR OUT_DIR [--r 16] [--seed 7]

BASE_DIR is a folder such as bench/make_gpt2_small.py writes (keep both
outside the repository). OUT_DIR receives adapter_config.json and
adapter_model.safetensors with lora_A/lora_B (F32) for every projection of
every layer -- GPT-2's attn.c_attn (the fused q/k/v), attn.c_proj, mlp.c_fc,
mlp.c_proj; Llama's q/k/v/o/gate/up/down_proj -- the heaviest adapter the
model can carry: every projection is merged.
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity", "gen"))
import gen_models  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("out")
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    with open(os.path.join(a.base, "config.json")) as f:
        cfg = json.load(f)
    g = torch.Generator().manual_seed(a.seed)
    if cfg["model_type"] == "gpt2":
        H, L = cfg["n_embd"], cfg["n_layer"]
        F = cfg.get("n_inner") or 4 * H
        shapes = {"attn.c_attn": (H, 3 * H), "attn.c_proj": (H, H), "mlp.c_fc": (H, F), "mlp.c_proj": (F, H)}
        prefix, targets = "transformer.h", ["c_attn", "c_proj", "c_fc"]
    else:   # Llama family: every nn.Linear of every layer
        H, L, F = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
        hd = cfg.get("head_dim") or H // cfg["num_attention_heads"]
        q, kv = cfg["num_attention_heads"] * hd, cfg.get("num_key_value_heads", cfg["num_attention_heads"]) * hd
        shapes = {"self_attn.q_proj": (H, q), "self_attn.k_proj": (H, kv), "self_attn.v_proj": (H, kv),
                  "self_attn.o_proj": (q, H), "mlp.gate_proj": (H, F), "mlp.up_proj": (H, F), "mlp.down_proj": (F, H)}
        prefix, targets = "model.layers", [k.split(".")[1] for k in shapes]
    T = {}
    for l in range(L):
        for sub, (fan_in, fan_out) in shapes.items():
            m = f"base_model.model.{prefix}.{l}.{sub}"
            T[m + ".lora_A.weight"] = torch.randn(a.r, fan_in, generator=g) / math.sqrt(fan_in)
            T[m + ".lora_B.weight"] = torch.randn(fan_out, a.r, generator=g) * 0.01
    os.makedirs(a.out, exist_ok=True)
    gen_models.write_safetensors(os.path.join(a.out, "adapter_model.safetensors"), T)
    conf = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": os.path.abspath(a.base),
            "r": a.r, "lora_alpha": 2 * a.r, "target_modules": targets,
            "fan_in_fan_out": cfg["model_type"] == "gpt2", "bias": "none", "lora_dropout": 0.0, "modules_to_save": None}
    with open(os.path.join(a.out, "adapter_config.json"), "w") as f:
        json.dump(conf, f, indent=2)
    print(json.dumps({"dir": a.out, "tensors": len(T),
                      "bytes": os.path.getsize(os.path.join(a.out, "adapter_model.safetensors"))}))


if __name__ == "__main__":
    main()
