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
base and adapter. The adapters on gen_arch_models.py's bases (Phi-3,
Pythia, Qwen3, Gemma 2; ARCH_ADAPTERS) use that file's forward pass,
scoring and generation semantics instead (README_lora.md).

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
import gen_arch_models as gam  # noqa: E402

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


# ---------------------------------------------------------------- the issue-11 architectures
# Bases from gen_arch_models.py, whose forward pass (imported, unchanged)
# computes the references. The Linear modules of each HF class, by the
# names peft sees (the checkpoint stores "<module>.weight"); norms, q_norm /
# k_norm and embeddings are not Linear and peft never wraps them.

ARCH_LINEARS = {
    "phi3": ("self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"),
    "gpt_neox": ("attention.query_key_value", "attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"),
    "qwen3": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
    "gemma2": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
               "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
}


def arch_linear_modules(cfg, W):
    mt = cfg["model_type"]
    pre = "gpt_neox." if mt == "gpt_neox" else "model."
    mods = []
    for l in range(cfg["num_hidden_layers"]):
        for sub in ARCH_LINEARS[mt]:
            m = f"{pre}layers.{l}.{sub}"
            assert m + ".weight" in W, m
            mods.append((m, m + ".weight", False))
    return mods


# The keys peft 0.19's save_pretrained writes (sorted, as it writes them):
# every LoraConfig field, the unused ones at their defaults. The engine must
# read such a file, not only the shorter one of older peft above.
PEFT_019 = {
    "alora_invocation_tokens": None, "alpha_pattern": {}, "arrow_config": None, "auto_mapping": None,
    "bias": "none", "corda_config": None, "ensure_weight_tying": False, "eva_config": None,
    "exclude_modules": None, "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
    "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
    "lora_alpha": 8, "lora_bias": False, "lora_dropout": 0.0, "lora_ga_config": None, "megatron_config": None,
    "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "peft_version": "0.19.1",
    "qalora_group_size": 16, "r": 8, "rank_pattern": {}, "revision": None, "target_modules": None,
    "target_parameters": None, "task_type": "CAUSAL_LM", "trainable_token_indices": None, "use_bdlora": None,
    "use_dora": False, "use_qalora": False, "use_rslora": False,
}

ARCH_ADAPTERS = [
    # name, base, adapter_config fields, adapter dtype, B std, seed.
    # peft has no default target_modules for phi3 (its LoRA mapping lists
    # phi, not phi3): a Phi-3 adapter always names them. Here the two fused
    # modules whole, as Phi-3 fine-tuning recipes do, with a rank_pattern.
    ("lora_phi3", "phi3", {
        "r": 8, "lora_alpha": 16, "target_modules": ["gate_up_proj", "qkv_proj"],
        "rank_pattern": {"gate_up_proj": 4}, "lora_dropout": 0.05,
    }, torch.float32, 0.15, 31),
    # gpt_neox's default is ["query_key_value"]; Pythia recipes add the
    # other three Linear layers ("dense" must not catch dense_h_to_4h)
    ("lora_pythia", "pythia", {
        "r": 4, "lora_alpha": 16, "target_modules": ["dense_4h_to_h", "query_key_value", "dense", "dense_h_to_4h"],
        "lora_dropout": 0.05,
    }, torch.float32, 0.1, 32),
    # "all-linear" as peft saves it: expanded to the Linear names (a set, so
    # in no particular order); q_norm/k_norm are RMSNorms, not adapted
    ("lora_qwen3", "qwen3_yarn", {
        "r": 4, "lora_alpha": 8, "use_rslora": True,
        "target_modules": ["o_proj", "k_proj", "down_proj", "gate_proj", "v_proj", "q_proj", "up_proj"],
    }, torch.float32, 0.15, 33),
    # gemma2's default q_proj/v_proj plus o_proj and down_proj, whose outputs
    # go through the sandwich norms; BF16 adapter weights (a model trained in
    # bf16 without autocast); and a trained copy of the tied head
    # (modules_to_save): the head is no longer the embedding, the input side
    # keeps the base embedding times sqrt(hidden), the final soft-cap stays
    ("lora_gemma2", "gemma2", {
        "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "down_proj", "o_proj", "v_proj"],
        "alpha_pattern": {"layers.3.mlp.down_proj": 32}, "modules_to_save": ["lm_head"],
    }, torch.bfloat16, 0.3, 37),
]

# gen_arch_models.py's generation fixtures: a static RoPE generates from the
# 16-token sequence's first 5 ids; a call-length-dependent one (phi3's
# longrope) from the 50-token sequence's first 28, crossing
# original_max_position_embeddings, with Phi3ForCausalLM's semantics.
ARCH_GENMODE = {name: mode for name, _, _, mode in gam.MODELS}


def arch_expected(name, base, cfg, W, base_cfg, base_W):
    """gen_arch_models.py's scoring and generation semantics, on the merged
    weights: each sequence scored in one call over ids[:-1] (the length that
    picks longrope's factors), greedy generation as its fixture defines it."""
    s, sb = gam.build_spec(cfg), gam.build_spec(base_cfg)
    s["orig"] = sb["orig"] = cfg.get("original_max_position_embeddings")
    seqs = gam.seq_ids(cfg["vocab_size"])
    lps, base_lps = gam.score(s, W, seqs), gam.score(sb, base_W, seqs)
    out, change = [], 0.0
    for ids, lp, blp in zip(seqs, lps, base_lps):
        n = len(ids)
        if n > 1:
            idx = (torch.arange(n - 1), torch.tensor(ids[1:]))
            change = max(change, (lp[idx] - blp[idx]).abs().max().item())
        out.append({"ids": ids, "logprobs": [lp[t, ids[t + 1]].item() for t in range(n - 1)],
                    "greedy": [int(lp[t].argmax().item() == ids[t + 1]) for t in range(n - 1)],
                    "last_logits": gam.forward(s, W, ids)[-1].tolist()})
    if change <= 1e-2:
        sys.exit(f"{name}: the adapter changes log-probabilities by only {change}; draw B larger")
    mode = ARCH_GENMODE[base]
    if mode == "static":
        prompt = seqs[3][:5]
        toks, margin = gam.greedy(s, W, prompt, gam.GEN_NEW, "full")
        cached, _ = gam.greedy(s, W, prompt, gam.GEN_NEW, "cached")
        if cached != toks:
            sys.exit(f"{name}: KV-cached and full generation differ for a static RoPE")
        gen = {"prompt": prompt, "max_new_tokens": gam.GEN_NEW, "tokens": toks, "min_top2_margin": margin,
               "semantics": "greedy; static RoPE: KV-cached and full recomputation agree"}
    elif mode == "longrope":
        prompt = seqs[5][:28]
        toks, margin = gam.greedy(s, W, prompt, gam.GEN_NEW, "phi3")
        alts = {m: gam.greedy(s, W, prompt, gam.GEN_NEW, m) for m in ("cached", "full")}
        if alts["full"][0] != toks:   # what Phi3's prepare_inputs_for_generation amounts to here
            sys.exit(f"{name}: Phi-3 generation differs from full recomputation")
        if alts["cached"][0] == toks:
            sys.exit(f"{name}: a never-re-rotated cache gives the same tokens; the fixture would not "
                     "tell the semantics apart")
        margin = min(margin, alts["cached"][1])
        gen = {"prompt": prompt, "max_new_tokens": gam.GEN_NEW, "tokens": toks, "min_top2_margin": margin,
               "semantics": "HF Phi3ForCausalLM generate (as gen_arch_models.py's phi3 fixture): the cache is "
                            "dropped when the sequence first reaches original_max_position_embeddings + 1 "
                            "tokens, so every key is rotated with the long factors; equal to full "
                            "recomputation at every step",
               "cached_never_rerotated_tokens": alts["cached"][0]}
    else:
        sys.exit(f"{name}: generation mode {mode} not handled")
    if margin < gam.MARGIN_MIN:
        sys.exit(f"{name}: greedy top-2 margin {margin} too small; change the seed")
    # the generation test must also fail with the adapter ignored
    base_toks, _ = gam.greedy(sb, base_W, prompt, gam.GEN_NEW, "phi3" if mode == "longrope" else "full")
    if base_toks == toks:
        sys.exit(f"{name}: the base model generates the same tokens; change the seed")
    gen["base_tokens"] = base_toks
    return out, gen, change


def arch_main():
    for name, base, fields, dtype, b_std, seed in ARCH_ADAPTERS:
        bdir = os.path.join(OUT, base)
        with open(os.path.join(bdir, "config.json")) as f:
            cfg = json.load(f)
        base_W = gam.read_safetensors(os.path.join(bdir, "model.safetensors"))   # float64 of the stored values
        acfg = dict(PEFT_019, base_model_name_or_path=f"../{base}", **fields)
        g = torch.Generator().manual_seed(seed)
        tensors, n = {}, 0
        W, run_cfg = dict(base_W), cfg
        for module, tname, _ in arch_linear_modules(cfg, base_W):
            if not selected(acfg, module):
                continue
            w = base_W[tname]
            fan_out, fan_in = w.shape
            r = pattern_value(acfg["rank_pattern"], module, acfg["r"])
            alpha = pattern_value(acfg["alpha_pattern"], module, acfg["lora_alpha"])
            scaling = alpha / math.sqrt(r) if acfg["use_rslora"] else alpha / r
            A = (torch.randn(r, fan_in, generator=g) / math.sqrt(fan_in)).to(dtype)
            B = (torch.randn(fan_out, r, generator=g) * b_std).to(dtype)
            tensors[f"base_model.model.{module}.lora_A.weight"] = A
            tensors[f"base_model.model.{module}.lora_B.weight"] = B
            W[tname] = w + scaling * (B.to(F64) @ A.to(F64))
            n += 1
        if "lm_head" in (acfg["modules_to_save"] or []):
            # ModulesToSaveWrapper's copy of the tied head, trained: stored in
            # the embedding's dtype, and the model is untied from then on
            emb = base_W["model.embed_tokens.weight"]
            head = (emb + torch.randn(emb.shape, generator=g, dtype=F64) * 0.1).to(dtype)
            tensors["base_model.model.lm_head.weight"] = head
            W["lm_head.weight"] = head.to(F64)
            run_cfg = dict(cfg, tie_word_embeddings=False)
        expect_n = {"lora_phi3": 4, "lora_pythia": 8, "lora_qwen3": 14, "lora_gemma2": 16}[name]
        if n != expect_n:
            sys.exit(f"{name}: {n} adapted modules, expected {expect_n}")
        seqs, gen, change = arch_expected(name, base, run_cfg, W, cfg, base_W)
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump(acfg, f, indent=2, sort_keys=True)
        gm.write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors)
        exp = {"model": name, "base": f"../{base}",
               "reference": f"float64 PyTorch {torch.__version__} (gen_lora.py, gen_arch_models.py's forward)",
               "max_logprob_change": change, "sequences": seqs, "generate": gen}
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(exp, f, indent=1)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"{name}: {n} adapted modules, log-probabilities moved up to {change:.3f}, greedy margin "
              f"{gen['min_top2_margin']:.4f}, generate {gen['tokens']}, {size} bytes")


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
    arch_main()


if __name__ == "__main__":
    main()
