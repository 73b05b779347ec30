#!/usr/bin/python3
"""Tiny random-weight encoder classifiers and float64 reference logits for
engine/encoder.c (tests/parity/test_encoder.c).

Hugging Face transformers is not installable here, so this file holds a
compact, independent float64 PyTorch re-statement of
BertForSequenceClassification, RobertaForSequenceClassification and
DistilBertForSequenceClassification as HF's modeling code defines them
(batched, with an attention mask, the way HF runs padded batches), and uses
gen_models.py's safetensors writer. See README_encoders.md.

Run with Debian's interpreter:  /usr/bin/python3 tests/parity/gen/gen_encoder_models.py
Writes tests/data/models/<name>/{config.json, model.safetensors,
expected.json}. Deterministic (fixed seeds).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_models as gm  # noqa: E402  (safetensors writer, layer_norm, gelu_tanh)

gm.ST_DTYPE[torch.int64] = "I64"   # for the old position_ids buffer some checkpoints carry

OUT = gm.OUT
F64 = torch.float64


# ---------------------------------------------------------------- reference

def activation(x, name):
    if name == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return gm.gelu_tanh(x)
    if name == "relu":
        return torch.clamp(x, min=0.0)
    raise ValueError(name)


def linear(W, name, x):
    return x @ W[name + ".weight"].T + W[name + ".bias"]


def ln(W, name, x, eps):
    w = W[name + ".weight"] if name + ".weight" in W else W[name + ".gamma"]
    b = W[name + ".bias"] if name + ".bias" in W else W[name + ".beta"]
    return gm.layer_norm(x, w, b, eps)


def self_attention(q, k, v, nh, mask, distil):
    """q/k/v [B, T, H], mask [B, T] (1 = real token). BERT/RoBERTa add the
    extended mask (1 - mask) * finfo.min to the scaled scores; DistilBERT
    scales q first and masked_fills finfo.min. Returns [B, T, H]."""
    B, T, H = q.shape
    hd = H // nh

    def heads(t):
        return t.reshape(B, T, nh, hd).transpose(1, 2)

    q, k, v = heads(q), heads(k), heads(v)
    fmin = torch.finfo(q.dtype).min
    if distil:
        s = (q / math.sqrt(hd)) @ k.transpose(-1, -2)
        s = s.masked_fill((mask == 0)[:, None, None, :], fmin)
    else:
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        s = s + (1.0 - mask[:, None, None, :].to(q.dtype)) * fmin
    p = torch.softmax(s, dim=-1)
    return (p @ v).transpose(1, 2).reshape(B, T, H)


def forward(W, cfg, ids, type_ids, mask):
    """ids/type_ids/mask: int64 [B, T]. Returns float64 logits [B, num_labels]."""
    arch = cfg["architectures"][0]
    B, T = ids.shape
    if arch == "DistilBertForSequenceClassification":
        p, eps, nh, act = "distilbert.", 1e-12, cfg["n_heads"], cfg["activation"]
        x = W[p + "embeddings.word_embeddings.weight"][ids] + \
            W[p + "embeddings.position_embeddings.weight"][torch.arange(T)][None]
        x = ln(W, p + "embeddings.LayerNorm", x, eps)
        for l in range(cfg["n_layers"]):
            q = f"{p}transformer.layer.{l}."
            a = self_attention(linear(W, q + "attention.q_lin", x), linear(W, q + "attention.k_lin", x),
                               linear(W, q + "attention.v_lin", x), nh, mask, True)
            x = ln(W, q + "sa_layer_norm", linear(W, q + "attention.out_lin", a) + x, eps)
            f = linear(W, q + "ffn.lin2", activation(linear(W, q + "ffn.lin1", x), act))
            x = ln(W, q + "output_layer_norm", f + x, eps)
        h = torch.clamp(linear(W, "pre_classifier", x[:, 0]), min=0.0)
        return linear(W, "classifier", h)

    roberta = arch == "RobertaForSequenceClassification"
    p = "roberta." if roberta else "bert."
    eps, nh, act = cfg["layer_norm_eps"], cfg["num_attention_heads"], cfg["hidden_act"]
    if roberta:
        # HF's create_position_ids_from_input_ids: pad tokens sit at
        # padding_idx, the others count up from padding_idx + 1
        pad = cfg["pad_token_id"]
        notpad = (ids != pad).long()
        pos = torch.cumsum(notpad, dim=1) * notpad + pad
    else:
        pos = torch.arange(T)[None].expand(B, T)
    x = W[p + "embeddings.word_embeddings.weight"][ids] + W[p + "embeddings.token_type_embeddings.weight"][type_ids]
    x = x + W[p + "embeddings.position_embeddings.weight"][pos]
    x = ln(W, p + "embeddings.LayerNorm", x, eps)
    for l in range(cfg["num_hidden_layers"]):
        q = f"{p}encoder.layer.{l}."
        a = self_attention(linear(W, q + "attention.self.query", x), linear(W, q + "attention.self.key", x),
                           linear(W, q + "attention.self.value", x), nh, mask, False)
        x = ln(W, q + "attention.output.LayerNorm", linear(W, q + "attention.output.dense", a) + x, eps)
        f = linear(W, q + "output.dense", activation(linear(W, q + "intermediate.dense", x), act))
        x = ln(W, q + "output.LayerNorm", f + x, eps)
    if roberta:
        h = torch.tanh(linear(W, "classifier.dense", x[:, 0]))
        return linear(W, "classifier.out_proj", h)
    h = torch.tanh(linear(W, "bert.pooler.dense", x[:, 0]))
    return linear(W, "classifier", h)


# ---------------------------------------------------------------- models

def rnd(g, *shape, std=1.0, mean=0.0):
    return torch.randn(*shape, generator=g, dtype=torch.float32) * std + mean


def lin_w(g, W, name, out, inp, wstd=None, bstd=0.1):
    W[name + ".weight"] = rnd(g, out, inp, std=wstd if wstd is not None else 1.0 / math.sqrt(inp))
    W[name + ".bias"] = rnd(g, out, std=bstd)


def ln_w(g, W, name, H):
    W[name + ".weight"] = rnd(g, H, std=0.1, mean=1.0)
    W[name + ".bias"] = rnd(g, H, std=0.1)


def bert_weights(cfg, g):
    arch = cfg["architectures"][0]
    H, F, L = cfg["hidden_size"], cfg["intermediate_size"], num_labels(cfg)
    p = "roberta." if arch.startswith("Roberta") else "bert."
    W = {p + "embeddings.word_embeddings.weight": rnd(g, cfg["vocab_size"], H, std=0.4),
         p + "embeddings.position_embeddings.weight": rnd(g, cfg["max_position_embeddings"], H, std=0.3),
         p + "embeddings.token_type_embeddings.weight": rnd(g, cfg["type_vocab_size"], H, std=0.3)}
    ln_w(g, W, p + "embeddings.LayerNorm", H)
    for l in range(cfg["num_hidden_layers"]):
        q = f"{p}encoder.layer.{l}."
        lin_w(g, W, q + "attention.self.query", H, H, wstd=2.0 / math.sqrt(H))
        lin_w(g, W, q + "attention.self.key", H, H, wstd=2.0 / math.sqrt(H))
        lin_w(g, W, q + "attention.self.value", H, H)
        lin_w(g, W, q + "attention.output.dense", H, H)
        ln_w(g, W, q + "attention.output.LayerNorm", H)
        lin_w(g, W, q + "intermediate.dense", F, H, wstd=2.0 / math.sqrt(H))
        lin_w(g, W, q + "output.dense", H, F)
        ln_w(g, W, q + "output.LayerNorm", H)
    if p == "roberta.":
        lin_w(g, W, "classifier.dense", H, H, wstd=1.5 / math.sqrt(H))
        lin_w(g, W, "classifier.out_proj", L, H, wstd=2.0 / math.sqrt(H))
    else:
        lin_w(g, W, "bert.pooler.dense", H, H, wstd=1.5 / math.sqrt(H))
        lin_w(g, W, "classifier", L, H, wstd=2.0 / math.sqrt(H))
    return W


def distil_weights(cfg, g):
    H, F, L = cfg["dim"], cfg["hidden_dim"], num_labels(cfg)
    p = "distilbert."
    W = {p + "embeddings.word_embeddings.weight": rnd(g, cfg["vocab_size"], H, std=0.4),
         p + "embeddings.position_embeddings.weight": rnd(g, cfg["max_position_embeddings"], H, std=0.3)}
    ln_w(g, W, p + "embeddings.LayerNorm", H)
    for l in range(cfg["n_layers"]):
        q = f"{p}transformer.layer.{l}."
        lin_w(g, W, q + "attention.q_lin", H, H, wstd=2.0 / math.sqrt(H))
        lin_w(g, W, q + "attention.k_lin", H, H, wstd=2.0 / math.sqrt(H))
        lin_w(g, W, q + "attention.v_lin", H, H)
        lin_w(g, W, q + "attention.out_lin", H, H)
        ln_w(g, W, q + "sa_layer_norm", H)
        lin_w(g, W, q + "ffn.lin1", F, H, wstd=2.0 / math.sqrt(H))
        lin_w(g, W, q + "ffn.lin2", H, F)
        ln_w(g, W, q + "output_layer_norm", H)
    lin_w(g, W, "pre_classifier", H, H, wstd=2.0 / math.sqrt(H))
    lin_w(g, W, "classifier", L, H, wstd=2.0 / math.sqrt(H))
    return W


def num_labels(cfg):
    return len(cfg["id2label"]) if cfg.get("id2label") else cfg.get("num_labels", 2)


VOCAB, HIDDEN, LAYERS, HEADS, FFN, MAXPOS = 100, 32, 2, 4, 64, 72


def bert_cfg(arch, mtype, **kw):
    c = {"architectures": [arch], "model_type": mtype, "vocab_size": VOCAB, "hidden_size": HIDDEN,
         "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": FFN,
         "hidden_act": "gelu", "max_position_embeddings": MAXPOS, "type_vocab_size": 2,
         "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
         "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "torch_dtype": "float32"}
    c.update(kw)
    return c


DISTIL_CFG = {"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
              "vocab_size": VOCAB, "dim": HIDDEN, "n_layers": LAYERS, "n_heads": HEADS, "hidden_dim": FFN,
              "activation": "relu", "max_position_embeddings": MAXPOS, "pad_token_id": 0,
              "sinusoidal_pos_embds": False, "dropout": 0.1, "attention_dropout": 0.1,
              "seq_classif_dropout": 0.2, "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
              "label2id": {"NEGATIVE": 0, "POSITIVE": 1}, "torch_dtype": "float32"}

NLI = {"0": "entailment", "1": "neutral", "2": "contradiction"}

# name, config, weights, storage dtype, what else to do to the stored dict
MODELS = [
    ("bert_cls", bert_cfg("BertForSequenceClassification", "bert", id2label=NLI,
                          label2id={v: int(k) for k, v in NLI.items()}),
     bert_weights, torch.float32, None),
    # regression (STS-B): one label; tanh GELU; the old gamma/beta LayerNorm
    # names and the position_ids buffer older checkpoints carry
    ("bert_stsb", bert_cfg("BertForSequenceClassification", "bert", hidden_act="gelu_new",
                           layer_norm_eps=1e-5, id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0},
                           problem_type="regression"),
     bert_weights, torch.float32, "old_names"),
    # RoBERTa: pad 1, positions from 2, so max_position_embeddings = usable + 2;
    # one token type; F16 storage; no id2label (labels default to LABEL_i)
    ("roberta_cls", bert_cfg("RobertaForSequenceClassification", "roberta", pad_token_id=1,
                             max_position_embeddings=MAXPOS + 2, type_vocab_size=1, layer_norm_eps=1e-5,
                             num_labels=2, bos_token_id=0, eos_token_id=2, torch_dtype="float16"),
     bert_weights, torch.float16, None),
    ("distilbert_cls", DISTIL_CFG, distil_weights, torch.float32, None),
]

SEQ_LENS = [1, 2, 5, 13, 31, 64, 72]
CLS, SEP = 2, 3


def sequences(cfg, sg):
    """Fixed id sequences for one model: single sequences of SEQ_LENS
    (starting with CLS), and for BERT with type ids a few pairs
    CLS a SEP b SEP with segment ids 0 / 1."""
    out = []
    V = cfg["vocab_size"]
    for n in SEQ_LENS:
        ids = [CLS] + torch.randint(0, V, (n - 1,), generator=sg).tolist()
        out.append((ids, None))
    if cfg.get("type_vocab_size", 0) >= 2:
        for la, lb in ((3, 4), (10, 20), (30, 38)):
            a = torch.randint(4, V, (la,), generator=sg).tolist()
            b = torch.randint(4, V, (lb,), generator=sg).tolist()
            ids = [CLS] + a + [SEP] + b + [SEP]
            out.append((ids, [0] * (la + 2) + [1] * (lb + 1)))
    if cfg["architectures"][0].startswith("Roberta"):
        # a pad id inside a sequence: HF gives it position padding_idx and
        # does not count it
        ids = [0] + torch.randint(4, V, (9,), generator=sg).tolist()
        ids[4] = ids[7] = cfg["pad_token_id"]
        out.append((ids, None))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for mi, (name, cfg, build, dtype, extra) in enumerate(MODELS):
        g = torch.Generator().manual_seed(4321 + mi)
        Wf = build(cfg, g)
        stored = {k: v.to(dtype) for k, v in Wf.items()}
        if extra == "old_names":
            stored = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
                      for k, v in stored.items()}
            stored["bert.embeddings.position_ids"] = torch.arange(cfg["max_position_embeddings"])[None]
        # the reference sees exactly the stored (rounded) values
        W = {k: v.to(F64) for k, v in stored.items() if v.is_floating_point()}
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        gm.write_safetensors(os.path.join(d, "model.safetensors"), stored)

        sg = torch.Generator().manual_seed(77)
        seqs = sequences(cfg, sg)
        pad = cfg.get("pad_token_id", 0)
        rows, singles = [], []
        for ids, tt in seqs:
            t_ids = torch.tensor([ids])
            t_tt = torch.tensor([tt if tt else [0] * len(ids)])
            logits = forward(W, cfg, t_ids, t_tt, torch.ones_like(t_ids))[0]
            singles.append(logits)
            rows.append({"ids": ids, "type_ids": tt, "logits": logits.tolist()})
        # the same sequences as one right-padded batch with an attention
        # mask, as HF runs them: must give the unpadded logits
        T = max(len(ids) for ids, _ in seqs)
        B = len(seqs)
        b_ids = torch.full((B, T), pad, dtype=torch.long)
        b_tt = torch.zeros((B, T), dtype=torch.long)
        b_mask = torch.zeros((B, T), dtype=torch.long)
        for i, (ids, tt) in enumerate(seqs):
            b_ids[i, :len(ids)] = torch.tensor(ids)
            if tt:
                b_tt[i, :len(ids)] = torch.tensor(tt)
            b_mask[i, :len(ids)] = 1
        batched = forward(W, cfg, b_ids, b_tt, b_mask)
        pdiff = (batched - torch.stack(singles)).abs().max().item()
        if pdiff > 1e-9:
            sys.exit(f"{name}: padded batch differs from unpadded sequences by {pdiff}")
        spread = torch.stack(singles).std().item()
        exp = {"model": name, "reference": f"float64 PyTorch {torch.__version__} (gen_encoder_models.py)",
               "num_labels": num_labels(cfg), "padded_batch_max_abs_diff": pdiff, "sequences": rows}
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(exp, f, indent=1)
        print(f"{name}: {sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))} bytes, "
              f"{len(rows)} sequences, logit std {spread:.3f}, padded-batch max |diff| {pdiff:.2e}")


if __name__ == "__main__":
    main()
