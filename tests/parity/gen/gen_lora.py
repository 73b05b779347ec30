#!/usr/bin/python3
"""PEFT LoRA adapters for the tiny base checkpoints, with float64 reference
outputs of the adapted models (tests/parity/test_lora.c). See
README_lora.md.

peft is not installable here. This file re-states, from reading peft's
code (tuners/lora/layer.py Linear.get_delta_weight and merge,
tuners/tuners_utils.py check_target_module_exists, utils/other.py
get_pattern_key and ModulesToSaveWrapper, utils/save_and_load.py key
naming), what a merged LoRA model computes:
    W' = W + scaling * (B @ A)           nn.Linear, weight [out, in]
    W' = W + scaling * (B @ A).T         GPT-2 Conv1D, weight [in, out]
    scaling = alpha / r   (use_rslora: alpha / sqrt(r)),
with r and alpha from rank_pattern / alpha_pattern when a key matches, and
a modules_to_save module replaced by its trained copy (a tied head becomes
untied: the copy is the head, the embedding stays the base's). The forward
passes are gen_models.py's, in float64, on the stored (rounded) values of
base and adapter.

Run with Debian's interpreter:  /usr/bin/python3 tests/parity/gen/gen_lora.py
Writes tests/data/models/lora_<name>/{adapter_config.json,
adapter_model.safetensors, expected.json}. Deterministic (fixed seeds);
gen_models.py's outputs are not touched.
"""
import json
import math
import os
import re
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_models as gm  # noqa: E402

F64 = torch.float64
OUT = gm.OUT

ST_TO_TORCH = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    """name -> tensor in its stored dtype."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b0, b1 = e["data_offsets"]
        raw = bytearray(data[base + b0:base + b1])
        dt = ST_TO_TORCH[e["dtype"]]
        if dt == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(raw, dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out


# ---------------------------------------------------------------- peft's rules

def layer_index(key, pattern=None):
    """peft: re.match(r".*?\\.[^.]*\\.(\\d+)\\.", key) (or with the layers_pattern): the first
    numbered part (older peft: the last, greedy; the same for these names)."""
    p = r".*?\.[^.]*\.(\d+)\." if pattern is None else rf".*?\.{pattern}\.(\d+)\."
    m = re.match(p, key)
    return int(m.group(1)) if m else None


def selected(cfg, key):
    """check_target_module_exists, for the fields these fixtures use."""
    for m in cfg.get("modules_to_save") or []:
        if re.match(rf"(^|.*\.){m}($|\..*)", key):
            return False
    t = cfg["target_modules"]
    if isinstance(t, str):
        return re.fullmatch(t, key) is not None
    if key in t:
        return True
    if not any(key.endswith("." + s) for s in t):
        return False
    layers = cfg.get("layers_to_transform")
    if layers is None:
        return True
    pats = cfg.get("layers_pattern")
    pats = [pats] if isinstance(pats, str) else (pats or [None])
    for p in pats:
        idx = layer_index(key, p)
        if idx is not None:
            break
    if idx is None:
        return False
    return idx == layers if isinstance(layers, int) else idx in layers


def pattern_value(patterns, key, default):
    """get_pattern_key: the first key with re.match(rf"(.*\\.)?({k})$", key)."""
    for k, v in patterns.items():
        if re.match(rf"(.*\.)?({k})$", key):
            return v
    return default


# ---------------------------------------------------------------- adapters

def linear_modules(cfg, W):
    """(module name in the HF class, stored tensor name, conv1d) of every
    Linear/Conv1D weight of the base."""
    mods = []
    if cfg["model_type"] == "gpt2":
        for l in range(cfg["n_layer"]):
            for sub in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
                mods.append((f"transformer.h.{l}.{sub}", f"h.{l}.{sub}.weight", True))
    else:
        for l in range(cfg["num_hidden_layers"]):
            for sub in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
                mods.append((f"model.layers.{l}.{sub}", f"model.layers.{l}.{sub}.weight", False))
    return mods


def make_adapter(cfg, W, acfg, g, dtype, b_std):
    """The adapter's tensors (stored dtype) and the merged float64 weights."""
    tensors, merged, n = {}, dict(W), 0
    for module, tname, conv in linear_modules(cfg, W):
        if not selected(acfg, module):
            continue
        w = W[tname]
        fan_in, fan_out = (w.shape[0], w.shape[1]) if conv else (w.shape[1], w.shape[0])
        r = pattern_value(acfg.get("rank_pattern") or {}, module, acfg["r"])
        alpha = pattern_value(acfg.get("alpha_pattern") or {}, module, acfg["lora_alpha"])
        scaling = alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r
        # A as peft's kaiming init would scale it; B drawn non-zero (a
        # trained adapter's B is not peft's zero init)
        A = (torch.randn(r, fan_in, generator=g) / math.sqrt(fan_in)).to(dtype)
        B = (torch.randn(fan_out, r, generator=g) * b_std).to(dtype)
        tensors[f"base_model.model.{module}.lora_A.weight"] = A
        tensors[f"base_model.model.{module}.lora_B.weight"] = B
        delta = B.to(F64) @ A.to(F64)                 # [out, in]
        merged[tname] = w + scaling * (delta.T if conv else delta)
        n += 1
    return tensors, merged, n


ADAPTERS = [
    # name, base, adapter_config (peft's fields), adapter dtype, B std, seed
    ("lora_llama", "llama", {
        "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                     "up_proj", "down_proj"],
        "rank_pattern": {"mlp.down_proj": 2}, "alpha_pattern": {"layers.1.self_attn.o_proj": 16},
    }, torch.float32, 0.15, 11),
    ("lora_gpt2", "gpt2", {
        "r": 8, "lora_alpha": 16, "target_modules": ["c_attn", "c_fc"], "fan_in_fan_out": True,
        "layers_to_transform": [1], "layers_pattern": "h",
    }, torch.float16, 0.15, 12),
    ("lora_qwen2", "qwen2", {
        "r": 4, "lora_alpha": 8, "use_rslora": True,
        "target_modules": r".*\.layers\.1\.self_attn\.(q_proj|v_proj)|.*\.mlp\.up_proj",
        "modules_to_save": ["lm_head"],
    }, torch.float32, 0.15, 13),
    # the e2e tests' two adapters on one base (the bundled tiny model)
    ("lora_tiny_a", "tiny", {"r": 4, "lora_alpha": 8, "target_modules": ["c_attn"], "fan_in_fan_out": True},
     torch.float32, 0.5, 21),
    ("lora_tiny_b", "tiny", {"r": 4, "lora_alpha": 8, "target_modules": ["c_attn"], "fan_in_fan_out": True},
     torch.float32, 0.5, 22),
]


def adapter_config(base, fields):
    c = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": f"../{base}",
         "r": 8, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": None, "exclude_modules": None,
         "fan_in_fan_out": False, "bias": "none", "use_rslora": False, "modules_to_save": None,
         "init_lora_weights": True, "layers_to_transform": None, "layers_pattern": None,
         "rank_pattern": {}, "alpha_pattern": {}, "use_dora": False, "lora_bias": False,
         "layer_replication": None, "inference_mode": True, "revision": None}
    c.update(fields)
    return c


def expected_outputs(cfg, W, name, base_W):
    V = cfg["vocab_size"]
    seqs, max_change = [], 0.0
    sg = torch.Generator().manual_seed(99)  # the base fixtures' ids
    for n in gm.SEQ_LENS:
        ids = torch.randint(0, V, (n,), generator=sg).tolist()
        logits = gm.forward(cfg, W, ids)
        lp = torch.log_softmax(logits, -1)
        if n > 1:
            base_lp = torch.log_softmax(gm.forward(cfg["_base_cfg"], base_W, ids), -1)
            d = (lp - base_lp)[torch.arange(n - 1), torch.tensor(ids[1:])].abs().max().item()
            max_change = max(max_change, d)
        seqs.append({"ids": ids, "logprobs": [lp[t, ids[t + 1]].item() for t in range(n - 1)],
                     "greedy": [int(logits[t].argmax().item() == ids[t + 1]) for t in range(n - 1)],
                     "last_logits": logits[-1].tolist()})
    # the adapter must matter, or the test would pass with it ignored
    if max_change <= 1e-2:
        sys.exit(f"{name}: the adapter changes log-probabilities by only {max_change}; draw B larger")
    prompt = seqs[3]["ids"][:gm.GEN_PROMPT_LEN]
    toks, margin = list(prompt), float("inf")
    for _ in range(gm.GEN_NEW):
        last = gm.forward(cfg, W, toks)[-1]
        top = torch.topk(last, 2).values
        margin = min(margin, (top[0] - top[1]).item())
        toks.append(int(last.argmax().item()))
    if margin < 1e-3:
        sys.exit(f"{name}: greedy top-2 margin {margin} too small; change the seed")
    return seqs, {"prompt": prompt, "max_new_tokens": gm.GEN_NEW, "tokens": toks[len(prompt):],
                  "min_top2_margin": margin}, max_change


def main():
    for name, base, fields, dtype, b_std, seed in ADAPTERS:
        bdir = os.path.join(OUT, base)
        with open(os.path.join(bdir, "config.json")) as f:
            cfg = json.load(f)
        stored = read_safetensors(os.path.join(bdir, "model.safetensors"))
        base_W = {k: v.to(F64) for k, v in stored.items()}
        base_W["_prefix"] = ""
        acfg = adapter_config(base, fields)
        g = torch.Generator().manual_seed(seed)
        tensors, W, nmod = make_adapter(cfg, base_W, acfg, g, dtype, b_std)
        run_cfg = dict(cfg)
        run_cfg["_base_cfg"] = cfg
        if "lm_head" in (acfg.get("modules_to_save") or []):
            # ModulesToSaveWrapper trains a copy of lm_head: on a tied model
            # the copy is no longer the embedding
            V, H = base_W["model.embed_tokens.weight"].shape
            head = (base_W["model.embed_tokens.weight"].to(torch.float32) +
                    torch.randn(V, H, generator=g) * 0.3).to(stored["model.embed_tokens.weight"].dtype)
            tensors["base_model.model.lm_head.weight"] = head
            W["lm_head.weight"] = head.to(F64)
            run_cfg["tie_word_embeddings"] = False
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump(acfg, f, indent=2)
        gm.write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors)
        msg = f"{name}: {nmod} adapted modules"
        if not base.startswith("tiny"):
            seqs, gen, change = expected_outputs(run_cfg, W, name, base_W)
            exp = {"model": name, "base": f"../{base}",
                   "reference": f"float64 PyTorch {torch.__version__} (gen_lora.py)",
                   "max_logprob_change": change, "sequences": seqs, "generate": gen}
            with open(os.path.join(d, "expected.json"), "w") as f:
                json.dump(exp, f, indent=1)
            msg += f", log-probabilities moved up to {change:.3f}, greedy margin {gen['min_top2_margin']:.4f}"
        print(msg)


if __name__ == "__main__":
    main()
