#!/usr/bin/python3
"""Tiny random-weight encoder-decoder checkpoints and float64 reference
outputs for engine/seq2seq.c (tests/parity/test_seq2seq.c).

Hugging Face transformers is not installable here, so this file restates,
in float64 PyTorch, the forward passes of T5ForConditionalGeneration (v1.0
"relu" and v1.1 "gated-gelu"), BartForConditionalGeneration and
MarianMTModel, and the greedy and beam-search decoding of HF generate()
(transformers 4.40-4.47: BeamSearchScorer with decoder_prompt_len), written
from a reading of modeling_t5.py, modeling_bart.py, modeling_marian.py,
generation/utils.py, generation/beam_search.py and logits_process.py. See
README_seq2seq.md.

Run with Debian's interpreter:
    /usr/bin/python3 tests/parity/gen/gen_seq2seq_models.py [t5|t5v11|bart|marian ...]
Writes tests/data/models/<name>/{config.json, [generation_config.json,]
model.safetensors, expected.json} for the named models (all four when none
is named). Deterministic: each model has its own seeds.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import write_safetensors, layer_norm, rms_norm, gelu_tanh, rnd  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "models")
F64 = torch.float64
NEG_INF = float("-inf")
MARGIN = 1e-3     # smallest decision gap we accept (fp32 engine vs float64 reference)


# ---------------------------------------------------------------- T5

def t5_bucket(rel, bidirectional, num_buckets, max_distance):
    """HF's relative position bucket, including its float32 log (the
    boundaries depend on that rounding, so the reference keeps it)."""
    ret = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        ret = ret + (rel > 0).long() * num_buckets
        n = rel.abs()
    else:
        n = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    small = n < max_exact
    nf = n.to(torch.float32).clamp(min=1)   # (n = 0 is "small"; avoid log(0))
    large = max_exact + (torch.log(nf / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(small, n, large)


def t5_bias(table, q_len, k_len, bidirectional, cfg):
    """[heads, q, k] position bias; query i at position i, key j at j."""
    rel = torch.arange(k_len)[None, :] - torch.arange(q_len)[:, None]
    b = t5_bucket(rel, bidirectional, cfg["relative_attention_num_buckets"],
                  cfg["relative_attention_max_distance"])
    return table[b].permute(2, 0, 1)


def mha(x, mem, W, p, nh, hd, bias=None, causal=False, scale=1.0, has_bias=False):
    """Multi-head attention of x [T, d] over mem [S, d] with nn.Linear
    weights p + {q,k,v,o}; bias [nh, T, S] added to the scores."""
    def lin(n, h):
        y = h @ W[p + n + ".weight"].T
        return y + W[p + n + ".bias"] if has_bias else y
    names = ("q", "k", "v", "o") if not has_bias else ("q_proj", "k_proj", "v_proj", "out_proj")
    T, S = x.shape[0], mem.shape[0]
    q = (lin(names[0], x) * scale).reshape(T, nh, hd).transpose(0, 1)
    k = lin(names[1], mem).reshape(S, nh, hd).transpose(0, 1)
    v = lin(names[2], mem).reshape(S, nh, hd).transpose(0, 1)
    s = q @ k.transpose(1, 2)
    if bias is not None:
        s = s + bias
    if causal:
        s = s.masked_fill(torch.arange(S)[None, :] > torch.arange(T)[:, None], NEG_INF)
    a = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(T, nh * hd)
    return lin(names[3], a)


def t5_ff(W, p, h, cfg):
    if cfg["feed_forward_proj"] == "gated-gelu":
        g = gelu_tanh(h @ W[p + "wi_0.weight"].T) * (h @ W[p + "wi_1.weight"].T)
    else:
        g = torch.relu(h @ W[p + "wi.weight"].T)
    return g @ W[p + "wo.weight"].T


def t5_encode(W, cfg, src):
    nh, hd, eps = cfg["num_heads"], cfg["d_kv"], cfg["layer_norm_epsilon"]
    x = W["shared.weight"][src]
    bias = t5_bias(W["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                   len(src), len(src), True, cfg)
    for l in range(cfg["num_layers"]):
        p = f"encoder.block.{l}.layer."
        x = x + mha(rms_norm(x, W[p + "0.layer_norm.weight"], eps), rms_norm(x, W[p + "0.layer_norm.weight"], eps),
                    W, p + "0.SelfAttention.", nh, hd, bias)
        x = x + t5_ff(W, p + "1.DenseReluDense.", rms_norm(x, W[p + "1.layer_norm.weight"], eps), cfg)
    return rms_norm(x, W["encoder.final_layer_norm.weight"], eps)


def t5_decode(W, cfg, enc, dec):
    nh, hd, eps, d = cfg["num_heads"], cfg["d_kv"], cfg["layer_norm_epsilon"], cfg["d_model"]
    y = W["shared.weight"][dec]
    bias = t5_bias(W["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                   len(dec), len(dec), False, cfg)
    for l in range(cfg["num_decoder_layers"]):
        p = f"decoder.block.{l}.layer."
        h = rms_norm(y, W[p + "0.layer_norm.weight"], eps)
        y = y + mha(h, h, W, p + "0.SelfAttention.", nh, hd, bias, causal=True)
        h = rms_norm(y, W[p + "1.layer_norm.weight"], eps)
        y = y + mha(h, enc, W, p + "1.EncDecAttention.", nh, hd)
        y = y + t5_ff(W, p + "2.DenseReluDense.", rms_norm(y, W[p + "2.layer_norm.weight"], eps), cfg)
    y = rms_norm(y, W["decoder.final_layer_norm.weight"], eps)
    if cfg["tie_word_embeddings"]:
        return (y * d ** -0.5) @ W["shared.weight"].T
    return y @ W["lm_head.weight"].T


# ---------------------------------------------------------------- BART / Marian

def sinusoids(n_pos, dim):
    """Marian's table: sin of the even-indexed angles in the first half,
    cos of the odd-indexed ones in the second (angle pos / 10000^(2(j//2)/dim))."""
    pos = torch.arange(n_pos, dtype=F64)[:, None]
    j = torch.arange(dim, dtype=F64)[None, :]
    ang = pos / torch.pow(torch.tensor(10000.0, dtype=F64), 2 * torch.div(j, 2, rounding_mode="floor") / dim)
    half = (dim + 1) // 2
    out = torch.empty(n_pos, dim, dtype=F64)
    out[:, :half] = torch.sin(ang[:, 0::2])
    out[:, half:] = torch.cos(ang[:, 1::2])
    return out


def act_fn(name, x):
    if name == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return gelu_tanh(x)
    if name == "relu":
        return torch.relu(x)
    if name in ("swish", "silu"):
        return x * torch.sigmoid(x)
    raise ValueError(name)


def bart_embed(W, cfg, side, ids):
    d = cfg["d_model"]
    scale = math.sqrt(d) if cfg.get("scale_embedding") else 1.0
    x = W["model.shared.weight"][ids] * scale
    if cfg["model_type"] == "marian":
        x = x + sinusoids(len(ids), d)
    else:
        x = x + W[f"model.{side}.embed_positions.weight"][torch.arange(len(ids)) + 2]
        x = layer_norm(x, W[f"model.{side}.layernorm_embedding.weight"],
                       W[f"model.{side}.layernorm_embedding.bias"], 1e-5)
    return x


def bart_encode(W, cfg, src):
    nh = cfg["encoder_attention_heads"]
    hd = cfg["d_model"] // nh
    x = bart_embed(W, cfg, "encoder", src)
    for l in range(cfg["encoder_layers"]):
        p = f"model.encoder.layers.{l}."
        x = layer_norm(x + mha(x, x, W, p + "self_attn.", nh, hd, scale=hd ** -0.5, has_bias=True),
                       W[p + "self_attn_layer_norm.weight"], W[p + "self_attn_layer_norm.bias"], 1e-5)
        f = act_fn(cfg["activation_function"], x @ W[p + "fc1.weight"].T + W[p + "fc1.bias"])
        x = layer_norm(x + f @ W[p + "fc2.weight"].T + W[p + "fc2.bias"],
                       W[p + "final_layer_norm.weight"], W[p + "final_layer_norm.bias"], 1e-5)
    return x


def bart_decode(W, cfg, enc, dec):
    nh = cfg["decoder_attention_heads"]
    hd = cfg["d_model"] // nh
    y = bart_embed(W, cfg, "decoder", dec)
    for l in range(cfg["decoder_layers"]):
        p = f"model.decoder.layers.{l}."
        y = layer_norm(y + mha(y, y, W, p + "self_attn.", nh, hd, causal=True, scale=hd ** -0.5, has_bias=True),
                       W[p + "self_attn_layer_norm.weight"], W[p + "self_attn_layer_norm.bias"], 1e-5)
        y = layer_norm(y + mha(y, enc, W, p + "encoder_attn.", nh, hd, scale=hd ** -0.5, has_bias=True),
                       W[p + "encoder_attn_layer_norm.weight"], W[p + "encoder_attn_layer_norm.bias"], 1e-5)
        f = act_fn(cfg["activation_function"], y @ W[p + "fc1.weight"].T + W[p + "fc1.bias"])
        y = layer_norm(y + f @ W[p + "fc2.weight"].T + W[p + "fc2.bias"],
                       W[p + "final_layer_norm.weight"], W[p + "final_layer_norm.bias"], 1e-5)
    return y @ W["model.shared.weight"].T + W["final_logits_bias"][0]


def encode(W, cfg, src):
    return t5_encode(W, cfg, src) if cfg["model_type"] == "t5" else bart_encode(W, cfg, src)


def decode(W, cfg, enc, dec):
    return t5_decode(W, cfg, enc, dec) if cfg["model_type"] == "t5" else bart_decode(W, cfg, enc, dec)


# ---------------------------------------------------------------- generation
# g: dict with max_new, min_new, num_beams, length_penalty, early_stopping
# (True / False / "never"), no_repeat_ngram_size, forced_bos, forced_eos
# (None = none), bad (list of single-token bad words), eos, start.

def process(scores, seq, g):
    """HF's logits processors, in generate's order, on a copy of `scores`
    (raw logits for greedy, log-softmax for beams). seq = decoder ids so far
    (decoder start included)."""
    s = scores.clone()
    cur = len(seq)
    n = g["no_repeat_ngram_size"]
    if n > 0 and cur + 1 >= n:
        prefix = tuple(seq[cur - n + 1:]) if n > 1 else ()
        for i in range(cur - n + 1):
            if tuple(seq[i:i + n - 1]) == prefix:
                s[seq[i + n - 1]] = NEG_INF
    for b in g["bad"]:
        s[b] = NEG_INF
    if cur - 1 < g["min_new"]:
        s[g["eos"]] = NEG_INF
    if g["forced_bos"] is not None and cur == 1:
        s[:] = NEG_INF
        s[g["forced_bos"]] = 0
    if g["forced_eos"] is not None and cur == g["max_new"]:   # cur == max_length - 1
        s[:] = NEG_INF
        s[g["forced_eos"]] = 0
    return s


class Margins:
    """The smallest gap between two finite numbers whose order decided
    something; the engine computes in fp32, so a gap below MARGIN could
    flip."""
    def __init__(self):
        self.m = math.inf

    def gap(self, a, b):
        if math.isfinite(a) and math.isfinite(b) and a > -1e8 and b > -1e8:
            self.m = min(self.m, abs(a - b))


def greedy(W, cfg, src, g):
    enc = encode(W, cfg, src)
    seq, mg = [g["start"]], Margins()
    for _ in range(g["max_new"]):
        z = process(decode(W, cfg, enc, seq)[-1], seq, g)
        top = torch.topk(z, 2).values.tolist()
        mg.gap(top[0], top[1])
        t = int(torch.argmax(z))
        seq.append(t)
        if t == g["eos"]:
            break
    return seq[1:], mg.m


class Hyps:
    """BeamHypotheses: the num_beams best finished hypotheses."""
    def __init__(self, g, mg):
        self.g, self.mg, self.beams, self.worst = g, mg, [], 1e9

    def add(self, toks, sum_lp, gen_len):
        score = sum_lp / gen_len ** self.g["length_penalty"]
        nb = self.g["num_beams"]
        if len(self.beams) >= nb:
            self.mg.gap(score, self.worst)
        if len(self.beams) < nb or score > self.worst:
            self.beams.append((score, toks))
            if len(self.beams) > nb:
                order = sorted((s, i) for i, (s, _) in enumerate(self.beams))
                self.mg.gap(order[0][0], order[1][0])
                del self.beams[order[0][1]]
                self.worst = order[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum, cur_len):
        g = self.g
        if len(self.beams) < g["num_beams"]:
            return False
        if g["early_stopping"] is True:
            return True
        if g["early_stopping"] == "never" and g["length_penalty"] > 0:
            best = best_sum / g["max_new"] ** g["length_penalty"]     # max_length - prompt
        else:
            best = best_sum / (cur_len - 1) ** g["length_penalty"]
        self.mg.gap(self.worst, best)
        return self.worst >= best


def beam_search(W, cfg, src, g, rank_rule=True):
    """rank_rule=False drops HF's "an EOS ranked num_beams or worse is not a
    hypothesis" rule: only used to check the cases exercise it."""
    enc = encode(W, cfg, src)
    nb, V, eos = g["num_beams"], cfg["vocab_size"], g["eos"]
    max_length = g["max_new"] + 1
    beams = [[g["start"]] for _ in range(nb)]
    scores = [0.0] + [-1e9] * (nb - 1)
    mg = Margins()
    hyps = Hyps(g, mg)
    done = False
    while True:
        cand = []
        for b in range(nb):
            z = decode(W, cfg, enc, beams[b])[-1]
            lp = process(torch.log_softmax(z, -1), beams[b], g)
            cand += [(scores[b] + lp[v].item(), b * V + v) for v in range(V)]
        cand.sort(key=lambda c: (-c[0], c[1]))    # topk, ties to the lower index
        top = cand[:2 * nb]
        for i in range(2 * nb):
            mg.gap(cand[i][0], cand[i + 1][0])
        cur_len = len(beams[0]) + 1
        nxt = []
        for rank, (s, idx) in enumerate(top):
            b, t = divmod(idx, V)
            if t == eos:
                if rank >= nb and rank_rule:
                    continue
                hyps.add(list(beams[b]), s, cur_len - 1)
            else:
                nxt.append((s, b, t))
            if len(nxt) == nb:
                break
        done = done or hyps.is_done(top[0][0], cur_len)
        beams = [beams[b] + [t] for _, b, t in nxt]
        scores = [s for s, _, _ in nxt]
        if done or len(beams[0]) >= max_length:
            break
    if not done:
        for b in range(nb):
            hyps.add(list(beams[b]), scores[b], len(beams[b]) - 1)
    ranked = sorted(hyps.beams, key=lambda h: h[0])
    if len(ranked) > 1:
        mg.gap(ranked[-1][0], ranked[-2][0])
    best = ranked[-1][1]
    out = best[1:] + ([eos] if len(best) < max_length else [])
    return out, mg.m


# ---------------------------------------------------------------- models

def t5_weights(cfg, g, unit_scores=False):
    """unit_scores: q ~ N(0, 1/(d_model d_kv)) and k ~ N(0, 1/d_model), the
    init HF's T5 uses for its unscaled attention (the missing 1/sqrt(d_kv)
    folded into q), so that the scores q.k have variance about 1. Without
    it q and k have std 2/sqrt(d_model) and the scores std 2*2*sqrt(d_kv):
    for d_kv 16 that is 16 (maxima near 90), softmaxes close to one-hot,
    and the fp32 engine's log-probabilities 6.9e-5 from the float64 ones
    (2.9e-6 with it). t5 (d_kv 8) predates this and keeps its weights."""
    V, d, L, nh, dk, F = (cfg["vocab_size"], cfg["d_model"], cfg["num_layers"], cfg["num_heads"],
                          cfg["d_kv"], cfg["d_ff"])
    inner, s = nh * dk, 1.0 / math.sqrt(d)
    q_std, k_std = ((d * dk) ** -0.5, s) if unit_scores else (2 * s, 2 * s)
    gated = cfg["feed_forward_proj"] == "gated-gelu"
    W = {"shared.weight": rnd(g, V, d, std=1.0),
         "encoder.final_layer_norm.weight": rnd(g, d, std=0.1, mean=1.0),
         "decoder.final_layer_norm.weight": rnd(g, d, std=0.1, mean=1.0)}
    eos = cfg["eos_token_id"]
    W["shared.weight"][eos] *= 2.5      # EOS often enough for beams to finish
    if not cfg["tie_word_embeddings"]:
        W["lm_head.weight"] = rnd(g, V, d, std=1.5 * s)
        W["lm_head.weight"][eos] *= 2.5
    nbk = cfg["relative_attention_num_buckets"]

    def ff(p):
        if gated:
            W[p + "wi_0.weight"] = rnd(g, F, d, std=s)
            W[p + "wi_1.weight"] = rnd(g, F, d, std=s)
        else:
            W[p + "wi.weight"] = rnd(g, F, d, std=2 * s)
        W[p + "wo.weight"] = rnd(g, d, F, std=1.0 / math.sqrt(F))

    def attn(p, rel):
        W.update({p + "q.weight": rnd(g, inner, d, std=q_std), p + "k.weight": rnd(g, inner, d, std=k_std),
                  p + "v.weight": rnd(g, inner, d, std=s), p + "o.weight": rnd(g, d, inner, std=1 / math.sqrt(inner))})
        if rel:
            W[p + "relative_attention_bias.weight"] = rnd(g, nbk, nh, std=1.0)

    for l in range(L):
        p = f"encoder.block.{l}.layer."
        attn(p + "0.SelfAttention.", l == 0)
        W[p + "0.layer_norm.weight"] = rnd(g, d, std=0.1, mean=1.0)
        ff(p + "1.DenseReluDense.")
        W[p + "1.layer_norm.weight"] = rnd(g, d, std=0.1, mean=1.0)
    for l in range(cfg["num_decoder_layers"]):
        p = f"decoder.block.{l}.layer."
        attn(p + "0.SelfAttention.", l == 0)
        W[p + "0.layer_norm.weight"] = rnd(g, d, std=0.1, mean=1.0)
        attn(p + "1.EncDecAttention.", False)
        W[p + "1.layer_norm.weight"] = rnd(g, d, std=0.1, mean=1.0)
        ff(p + "2.DenseReluDense.")
        W[p + "2.layer_norm.weight"] = rnd(g, d, std=0.1, mean=1.0)
    return W


def bart_weights(cfg, g):
    V, d, F = cfg["vocab_size"], cfg["d_model"], cfg["encoder_ffn_dim"]
    s = 1.0 / math.sqrt(d)
    marian = cfg["model_type"] == "marian"
    W = {"model.shared.weight": rnd(g, V, d, std=0.3 if marian else 0.6),
         "final_logits_bias": rnd(g, 1, V, std=0.3)}
    # EOS often enough for beams to finish
    W["final_logits_bias"][0, cfg["eos_token_id"]] += 0.5 if marian else 2.0
    for side in ("encoder", "decoder"):
        if not marian:
            W[f"model.{side}.embed_positions.weight"] = rnd(g, cfg["max_position_embeddings"] + 2, d, std=0.3)
            W[f"model.{side}.layernorm_embedding.weight"] = rnd(g, d, std=0.1, mean=1.0)
            W[f"model.{side}.layernorm_embedding.bias"] = rnd(g, d, std=0.1)
        for l in range(cfg[f"{side}_layers"]):
            p = f"model.{side}.layers.{l}."
            atts = ["self_attn"] + (["encoder_attn"] if side == "decoder" else [])
            for a in atts:
                for n, std in (("q_proj", 2 * s), ("k_proj", 2 * s), ("v_proj", s), ("out_proj", s)):
                    W[f"{p}{a}.{n}.weight"] = rnd(g, d, d, std=std)
                    W[f"{p}{a}.{n}.bias"] = rnd(g, d, std=0.1)
                W[f"{p}{a}_layer_norm.weight"] = rnd(g, d, std=0.1, mean=1.0)
                W[f"{p}{a}_layer_norm.bias"] = rnd(g, d, std=0.1)
            W[p + "fc1.weight"] = rnd(g, F, d, std=2 * s)
            W[p + "fc1.bias"] = rnd(g, F, std=0.1)
            W[p + "fc2.weight"] = rnd(g, d, F, std=1.0 / math.sqrt(F))
            W[p + "fc2.bias"] = rnd(g, d, std=0.1)
            W[p + "final_layer_norm.weight"] = rnd(g, d, std=0.1, mean=1.0)
            W[p + "final_layer_norm.bias"] = rnd(g, d, std=0.1)
    W["lm_head.weight"] = W["model.shared.weight"]   # tied: save_pretrained writes both
    return W


T5_CFG = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": 100,
          "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
          "relative_attention_num_buckets": 8, "relative_attention_max_distance": 20,
          "layer_norm_epsilon": 1e-6, "feed_forward_proj": "relu", "tie_word_embeddings": True,
          "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1, "is_encoder_decoder": True,
          "dropout_rate": 0.1, "initializer_factor": 1.0}

T5V11_CFG = dict(T5_CFG, d_kv=16, d_ff=48, relative_attention_num_buckets=32,
                 relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                 tie_word_embeddings=False)

BART_CFG = {"architectures": ["BartForConditionalGeneration"], "model_type": "bart", "vocab_size": 100,
            "d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
            "decoder_attention_heads": 4, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
            "activation_function": "gelu", "max_position_embeddings": 128, "scale_embedding": False,
            "normalize_before": False, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
            "decoder_start_token_id": 2, "forced_bos_token_id": 0, "forced_eos_token_id": 2,
            "is_encoder_decoder": True, "tie_word_embeddings": True,
            # generation defaults in config.json, as bart-large-cnn has them
            "num_beams": 4, "length_penalty": 2.0, "early_stopping": True, "no_repeat_ngram_size": 3,
            "max_length": 16, "min_length": 3}

MARIAN_CFG = {"architectures": ["MarianMTModel"], "model_type": "marian", "vocab_size": 100,
              "d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
              "decoder_attention_heads": 4, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
              "activation_function": "swish", "max_position_embeddings": 128, "scale_embedding": True,
              "normalize_before": False, "static_position_embeddings": True,
              "pad_token_id": 99, "eos_token_id": 0, "decoder_start_token_id": 99,
              "forced_eos_token_id": 0, "is_encoder_decoder": True, "tie_word_embeddings": True,
              "share_encoder_decoder_embeddings": True, "bad_words_ids": [[99]],
              # ignored by HF when generation_config.json exists (it is used instead)
              "num_beams": 6, "max_length": 40}
MARIAN_GEN = {"bad_words_ids": [[99]], "bos_token_id": 0, "decoder_start_token_id": 99, "eos_token_id": 0,
              "forced_eos_token_id": 0, "max_length": 14, "num_beams": 4, "pad_token_id": 99}

# (name, config, weights, generation_config.json); a model's seed is 4321 +
# its index here, so the order must not change
MODELS = [("t5", T5_CFG, t5_weights, None),
          ("t5v11", T5V11_CFG, lambda cfg, g: t5_weights(cfg, g, unit_scores=True), None),
          ("bart", BART_CFG, bart_weights, None), ("marian", MARIAN_CFG, bart_weights, MARIAN_GEN)]
# what this script writes in a model's folder (tokenizer.json there comes
# from gen_tiny_tokenizers.py and is left alone)
WRITTEN = ("config.json", "generation_config.json", "model.safetensors", "expected.json")

# (source length, decoder length) for the scoring pairs; 70 and 80 cross a
# 64-row tile
PAIRS = [(1, 2), (7, 5), (16, 16), (33, 20), (70, 12), (20, 80), (5, 1)]

# beam settings: num_beams, length_penalty, early_stopping, no_repeat_ngram_size, min_new, max_new
BEAM_SETTINGS = [(2, 1.0, False, 0, 0, 12), (4, 1.0, False, 0, 0, 12), (4, 0.6, True, 0, 0, 12),
                 (4, 2.0, "never", 0, 0, 12), (3, 1.0, False, 2, 0, 12), (4, 1.0, "never", 2, 3, 10),
                 (2, 0.6, "never", 0, 5, 8), (4, 2.0, True, 2, 0, 15), (2, 1.0, True, 0, 0, 6),
                 (4, 0.6, False, 2, 0, 12)]


def defaults(cfg, gen):
    """HF: generation_config.json when present, else the generation keys of
    config.json; then GenerationConfig's defaults."""
    src = gen if gen is not None else cfg
    max_length = src.get("max_length", 20)
    return {"max_new": src.get("max_new_tokens") or max_length - 1,
            "min_new": max(src.get("min_new_tokens") or src.get("min_length", 0) - 1, 0),
            "num_beams": src.get("num_beams", 1), "length_penalty": src.get("length_penalty", 1.0),
            "early_stopping": src.get("early_stopping", False),
            "no_repeat_ngram_size": src.get("no_repeat_ngram_size", 0),
            "forced_bos": src.get("forced_bos_token_id"), "forced_eos": src.get("forced_eos_token_id"),
            "bad": [b[0] for b in src.get("bad_words_ids") or []],
            "eos": cfg["eos_token_id"], "start": cfg["decoder_start_token_id"]}


def run(W, cfg, src, g):
    return greedy(W, cfg, src, g) if g["num_beams"] == 1 else beam_search(W, cfg, src, g)


def main(argv):
    names = [m[0] for m in MODELS]
    want = argv or names
    for n in want:
        if n not in names:
            sys.exit(f"unknown model {n!r}; choose from {' '.join(names)}")
    os.makedirs(OUT, exist_ok=True)
    for mi, (name, cfg, build, gen) in enumerate(MODELS):
        if name not in want:
            continue    # every model has its own seeds: skipping one changes no other
        g = torch.Generator().manual_seed(4321 + mi)
        stored = {k: v.to(torch.float32) for k, v in build(cfg, g).items()}
        W = {k: v.to(F64) for k, v in stored.items()}
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        for f in WRITTEN:
            if os.path.exists(os.path.join(d, f)):
                os.remove(os.path.join(d, f))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        if gen is not None:
            with open(os.path.join(d, "generation_config.json"), "w") as f:
                json.dump(gen, f, indent=2)
        write_safetensors(os.path.join(d, "model.safetensors"), stored)

        V, start = cfg["vocab_size"], cfg["decoder_start_token_id"]
        sg = torch.Generator().manual_seed(77)
        pairs = []
        for ns, nd in PAIRS:
            src = torch.randint(0, V, (ns,), generator=sg).tolist()
            dec = [start] + torch.randint(0, V, (nd - 1,), generator=sg).tolist()
            lp = torch.log_softmax(decode(W, cfg, encode(W, cfg, src), dec), -1)
            z = decode(W, cfg, encode(W, cfg, src), dec)
            pairs.append({"src": src, "dec": dec,
                          "logprobs": [lp[t, dec[t + 1]].item() for t in range(nd - 1)],
                          "greedy": [int(z[t].argmax().item() == dec[t + 1]) for t in range(nd - 1)]})

        base = defaults(cfg, gen)
        # sources: random ids ending in EOS (as tokenizers add it); a source
        # whose decisions come too close to a tie is replaced by the next one
        def sources():
            while True:
                n = int(torch.randint(4, 13, (1,), generator=sg))
                yield torch.randint(0, V, (n,), generator=sg).tolist() + [cfg["eos_token_id"]]
        srcs = sources()
        gens, worst, eos_finished, rank_sensitive = [], math.inf, 0, 0

        def case(label, opts, want_n=1, rank_case=False):
            nonlocal worst, eos_finished, rank_sensitive
            got = 0
            for _ in range(400 if rank_case else 200):
                src = next(srcs)
                out, m = run(W, cfg, src, opts)
                if m < MARGIN:
                    continue
                if rank_case and beam_search(W, cfg, src, opts, rank_rule=False)[0] == out:
                    continue
                worst = min(worst, m)
                eos_finished += out[-1] == cfg["eos_token_id"]
                if opts["num_beams"] > 1:
                    rank_sensitive += beam_search(W, cfg, src, opts, rank_rule=False)[0] != out
                gens.append({"label": label, "src": src, "defaults": label == "defaults",
                             "opts": {k: opts[k] for k in ("max_new", "min_new", "num_beams", "length_penalty",
                                                           "early_stopping", "no_repeat_ngram_size",
                                                           "forced_bos", "forced_eos")},
                             "tokens": out, "min_margin": m})
                got += 1
                if got == want_n:
                    return
            if rank_case:
                print(f"{name}: no source found where the EOS-rank rule matters for {label}")
                return
            sys.exit(f"{name}: no source for {label} clears the {MARGIN} margin")

        case("defaults", base, 3)
        greedy_opts = dict(base, num_beams=1, max_new=12, min_new=0, no_repeat_ngram_size=0)
        case("greedy", greedy_opts, 3)
        case("greedy ngram2 min4", dict(greedy_opts, no_repeat_ngram_size=2, min_new=4), 2)
        for nb, lpen, es, ng, mn, mx in BEAM_SETTINGS:
            case(f"beam{nb} lp{lpen} es={es} ngram{ng} min{mn} max{mx}",
                 dict(base, num_beams=nb, length_penalty=lpen, early_stopping=es, no_repeat_ngram_size=ng,
                      min_new=mn, max_new=mx), 2)
        # sources where an EOS ranked num_beams or worse would change the
        # result if it were (wrongly) kept as a hypothesis
        # (found for early_stopping=True, where an extra hypothesis ends the search early)
        for nb, lpen, es in ((2, 1.0, True),):
            case(f"eos-rank beam{nb} lp{lpen} es={es}",
                 dict(base, num_beams=nb, length_penalty=lpen, early_stopping=es, no_repeat_ngram_size=0,
                      min_new=0, max_new=10), 1, rank_case=True)

        exp = {"model": name, "reference": f"float64 PyTorch {torch.__version__} (gen_seq2seq_models.py), "
                                          "HF transformers 4.40-4.47 semantics",
               "defaults": {k: base[k] for k in ("max_new", "min_new", "num_beams", "length_penalty",
                                                 "early_stopping", "no_repeat_ngram_size", "forced_bos",
                                                 "forced_eos")},
               "pairs": pairs, "generate": gens}
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(exp, f, indent=1)
        ntok = sum(len(p["logprobs"]) for p in pairs)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in WRITTEN if os.path.exists(os.path.join(d, f)))
        print(f"{name}: {size} bytes, "
              f"mean lp {sum(sum(p['logprobs']) for p in pairs) / ntok:.3f}, {len(gens)} generations "
              f"({eos_finished} end in EOS, mean length {sum(len(x['tokens']) for x in gens) / len(gens):.1f}), "
              f"min margin {worst:.4f}, {rank_sensitive} beam outputs depend on the EOS-rank rule")


if __name__ == "__main__":
    main(sys.argv[1:])
