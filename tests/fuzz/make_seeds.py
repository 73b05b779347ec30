#!/usr/bin/python3
"""Write the committed seed corpora of tests/fuzz/corpus/ (run once; the
files are committed, and a harness's crashes are added next to them as
regression inputs). The first byte of an input picks a mode where a
harness has several (see each fuzz_*.c), so the seeds are written here
rather than by hand. Re-running rewrites the seeds, never the regression
inputs (crash-*)."""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
MODELS = os.path.join(ROOT, "tests", "data", "models")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*p):
    with open(os.path.join(*p), "rb") as f:
        return f.read()


def safetensors(tensors, meta=None):
    """A safetensors file from [(name, dtype, shape, raw bytes)]."""
    header, off, blob = {}, 0, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


# ---- checkpoint: byte 0 even = model.safetensors, odd = index ----
put("checkpoint", "f32_f16_bf16", b"\x00" + safetensors([
    ("a", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
    ("b", "F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x8001)),
    ("c", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0x7FC0)),
    ("d", "F64", [1], struct.pack("<d", 2.5)),
    ("e", "I64", [0], b""),
], meta={"format": "pt"}))
put("checkpoint", "unaligned_f32", b"\x00" + safetensors([
    ("x", "U8", [1], b"\x07"),
    ("y", "F32", [1], struct.pack("<f", 1.0)),
]))
put("checkpoint", "index", b"\x01" + read(MODELS, "gpt2_sharded", "model.safetensors.index.json"))

# ---- config: byte 0 picks the fixture (order of fuzz_config.c) ----
CONFIG_MODELS = ["tiny", "gpt2", "gpt2_sharded", "llama", "llama3_rope", "llama_dynamic", "llama_f16_tied",
                 "llama_linear", "mistral", "qwen2", "qwen3_yarn", "gemma", "gemma2", "gemma3", "phi3",
                 "pythia", "neox_seq", "bert_cls", "bert_stsb", "distilbert_cls", "roberta_cls", "t5",
                 "t5v11", "bart", "marian"]
for i, m in enumerate(CONFIG_MODELS):
    put("config", m, bytes([i]) + read(MODELS, m, "config.json"))

# ---- tokenizer: byte 0 even = tokenizer.json [+ "\n#~#\n" + config] ----
SEP = b"\n#~#\n"
put("tokenizer", "bytelevel_bpe", b"\x00" + read(MODELS, "tiny", "tokenizer.json") + SEP +
    read(MODELS, "tiny", "tokenizer_config.json"))
put("tokenizer", "wordpiece", b"\x00" + read(MODELS, "bert_cls", "tokenizer.json"))
put("tokenizer", "unigram", b"\x00" + read(MODELS, "t5", "tokenizer.json"))
sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    sp_vocab["<0x%02X>" % b] = len(sp_vocab)
for piece in ["\u2581", "a", "b", "c", "\u2581a", "\u2581ab", "ab", "\u2581c"]:
    sp_vocab[piece] = len(sp_vocab)
put("tokenizer", "sentencepiece_bpe", b"\x00" + json.dumps({
    "version": "1.0",
    "added_tokens": [{"id": 1, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True},
                     {"id": 2, "content": "</s>", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                       {"type": "Replace", "pattern": {"String": " "},
                                                        "content": "\u2581"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
              "vocab": sp_vocab, "merges": ["\u2581 a", "a b", "\u2581a b", "\u2581 c"]},
}, ensure_ascii=False).encode())
gpt2_vocab = {chr(c) if 33 <= c <= 126 else "\u0120" if c == 32 else "c%d" % c: i for i, c in enumerate(range(256))}
gpt2_vocab.update({"\u0120t": 256, "he": 257, "\u0120the": 258, "<|endoftext|>": 259})
put("tokenizer", "legacy_vocab_merges", b"\x01" + json.dumps(gpt2_vocab).encode() + SEP +
    b"#version: 0.2\n\xc4\xa0 t\nh e\n\xc4\xa0t he\n")

# ---- task_spec: the built-in specs ----
for name in ["boolq", "hellaswag", "glue", "mmlu", "gsm8k", "truthfulqa_mc2", "winogrande", "squad",
             "wikitext", "lambada_openai", "arc_easy", "stsb", "cola", "piqa"]:
    p = os.path.join(ROOT, "tasks", "builtin", name + ".json")
    if os.path.exists(p):
        put("task_spec", name, read(p))

# ---- dataset: byte 0 < 9 a raw format (fuzz_dataset.c), else a spec ----
RAW = ["tsv_header", "tsv_skip", "csv_header", "csv_columns", "jsonl", "jsonl_skip", "squad", "text",
       "text_whole"]
SAMPLES = os.path.join(ROOT, "tasks", "samples")
raw_seeds = {
    0: b"sentence\tlabel\nit 's a charming journey .\t1\n\"quoted\" text\t0\n",
    1: b"a\tb\tc\nd\te\n",
    2: b"id,text,label\n1,\"multi\nline, \"\"quoted\"\"\",0\r\n2,plain,1\n",
    3: b"x,y\n\"a\",b\n",
    4: b'{"q": "why?", "a": ["x", 1, null], "n": 1.0e3}\n\n{"q": "\\u00e9"}\n',
    5: b'{"ok": true}\nnot json\n[1]\n',
    6: read(SAMPLES, "squad", "dev-v1.1.json")[:4000],
    7: b" = Title = \n\n text @-@ here \n = = Sub = = \n more\n = Next = \n last\n",
    8: b"one\r\ntwo\n",
}
for i, data in raw_seeds.items():
    if i == 6:
        try:
            json.loads(data)
        except ValueError:
            data = json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [
                {"context": "Paris is in France.", "qas": [
                    {"id": "q1", "question": "Where?", "answers": [{"text": "France", "answer_start": 12}]},
                    {"id": "q2", "question": "None?", "answers": [], "is_impossible": True}]}]}]}).encode()
    put("dataset", "raw_" + RAW[i], bytes([i]) + data)
specs = []
for f in sorted(os.listdir(os.path.join(ROOT, "tasks", "builtin"))):
    if not f.endswith(".json"):
        continue
    spec = json.load(open(os.path.join(ROOT, "tasks", "builtin", f)))
    if "group" not in spec:
        specs.append((f[:-5], spec))
for k, (name, spec) in enumerate(specs):
    sel = len(RAW) + k
    if sel > 255:
        break
    ds = spec.get("dataset", {})
    rel = ds.get("samples", {}).get(ds.get("eval_split"))
    if not rel or name.startswith("mmlu_") and name not in ("mmlu_anatomy",):
        continue
    data = read(SAMPLES, rel)
    if len(data) > 6000:
        # keep the first lines (whole records) of a long sample
        cut = data[:6000]
        data = cut[:cut.rfind(b"\n") + 1] if ds.get("format") != "json" and b"\n" in cut else data[:6000]
    put("dataset", "spec_" + name, bytes([sel]) + data)

# ---- score: byte 0 picks the metric set (fuzz_score.c) ----
lines = (b'{"prediction": "the cat sat", "references": ["the cat sat on the mat", "a cat"]}\n'
         b'{"prediction": "1", "reference": "0", "id": 3}\n'
         b'{"prediction": "Paris", "references": ["paris", "Paris, France"], "extra": null}\n')
labels = b'{"prediction": "1", "reference": "1"}\n{"prediction": "0", "reference": "1"}\n{"prediction": "2.5", "reference": "0.5"}\n'
for i in range(9):
    put("score", "set%d" % i, bytes([i]) + (labels if i in (4, 5, 7) else lines))

# ---- import: lm-evaluation-harness results files ----
put("import", "results", json.dumps({
    "results": {"sst2": {"alias": "sst2", "acc,none": 0.9174, "acc_stderr,none": 0.0093},
                "cola": {"mcc,none": 0.41, "mcc_stderr,none": None}, "mmlu": {"acc,none": 0.5, " ": "N/A"}},
    "groups": {"mmlu": {"acc,none": 0.5}},
    "higher_is_better": {"sst2": {"acc": True}},
    "n-samples": {"sst2": {"original": 872, "effective": 872}},
    "n-shot": {"sst2": 0}, "versions": {"sst2": 1.0},
    "config": {"model": "hf", "model_args": "pretrained=gpt2,dtype=float32", "batch_size": 1},
    "model_name": "gpt2", "date": 1700000000.5}))

# ---- lora: byte 0 = 2 * adapter + (1: the weights are the input) ----
ADAPTERS = ["lora_tiny_a", "lora_gpt2", "lora_llama", "lora_gemma2", "lora_phi3", "lora_pythia", "lora_qwen2",
            "lora_qwen3"]
for k, a in enumerate(ADAPTERS):
    put("lora", a + "_config", bytes([2 * k]) + read(MODELS, a, "adapter_config.json"))
put("lora", "lora_tiny_a_weights", bytes([1]) + read(MODELS, "lora_tiny_a", "adapter_model.safetensors"))

# ---- gguf: whole GGUF files (fuzz_gguf.c) ----
# A small writer (GGUF v3, alignment 32), so the seeds stay a few KB: tiny
# models of each mapped architecture with a vocabulary, vocabulary-only
# files, the container test file. Keys and names as llama.cpp's converter
# writes them (tests/parity/gen/README_gguf.md).
GT = {"u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "arr": 9}


def gstr(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<Q", len(b)) + b


def gval(kind, v):
    if kind == "u32":
        return struct.pack("<I", v)
    if kind == "i32":
        return struct.pack("<i", v)
    if kind == "f32":
        return struct.pack("<f", v)
    if kind == "bool":
        return struct.pack("<B", v)
    if kind == "str":
        return gstr(v)
    elem, items = v   # an array
    return struct.pack("<IQ", GT[elem], len(items)) + b"".join(gval(elem, x) for x in items)


def gguf_file(kvs, tensors):
    """kvs: [(key, kind, value)]; tensors: [(name, [ne0, ne1...], float list)] as F32."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, kind, v in kvs:
        out += gstr(k) + struct.pack("<I", GT[kind]) + gval(kind, v)
    off, blob = 0, b""
    for name, ne, vals in tensors:
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", 0, off)
        raw = struct.pack("<%df" % len(vals), *vals)
        raw += b"\0" * (-len(raw) % 32)
        blob += raw
        off += len(raw)
    out += b"\0" * (-len(out) % 32)
    return out + blob


def vals(n, k):
    return [((i * 7 + k * 3) % 11 - 5) / 20.0 for i in range(n)]


SPM = ["<unk>", "<s>", "</s>", "<0x0A>", "\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "<|end|>", "  "]
SPM_KV = [("tokenizer.ggml.model", "str", "llama"), ("tokenizer.ggml.pre", "str", "default"),
          ("tokenizer.ggml.tokens", "arr", ("str", SPM)),
          ("tokenizer.ggml.scores", "arr", ("f32", [0, 0, 0, 0, -1, -2, -3, -4, -5, -6, -1000, -1000])),
          ("tokenizer.ggml.token_type", "arr", ("i32", [2, 3, 3, 6, 1, 1, 1, 1, 1, 1, 3, 4])),
          ("tokenizer.ggml.bos_token_id", "u32", 1), ("tokenizer.ggml.eos_token_id", "u32", 2),
          ("tokenizer.ggml.unknown_token_id", "u32", 0), ("tokenizer.ggml.add_bos_token", "bool", 1)]
BPE_KV = [("tokenizer.ggml.model", "str", "gpt2"), ("tokenizer.ggml.pre", "str", "gpt-2"),
          ("tokenizer.ggml.tokens", "arr", ("str", ["a", "b", "ab", "\u0120", "\u0120ab", "<|endoftext|>"])),
          ("tokenizer.ggml.token_type", "arr", ("i32", [1, 1, 1, 1, 1, 3])),
          ("tokenizer.ggml.merges", "arr", ("str", ["a b", "\u0120 ab"])),
          ("tokenizer.ggml.eos_token_id", "u32", 5)]


def llama_like(arch, H=4, F=8, V=12, L=1, extra=(), qkv_fused=False, norms=("attn_norm", "ffn_norm")):
    kv = [("general.architecture", "str", arch)] + [("%s.%s" % (arch, k), t, v) for k, t, v in [
        ("embedding_length", "u32", H), ("block_count", "u32", L), ("feed_forward_length", "u32", F),
        ("attention.head_count", "u32", 1), ("attention.head_count_kv", "u32", 1), ("context_length", "u32", 64),
        ("attention.layer_norm_rms_epsilon", "f32", 1e-6)] + list(extra)]
    ts = [("token_embd.weight", [H, V], vals(H * V, 0)), ("output_norm.weight", [H], vals(H, 1))]
    for l in range(L):
        for n in norms:
            ts.append(("blk.%d.%s.weight" % (l, n), [H], vals(H, 2)))
        if qkv_fused:
            ts += [("blk.%d.attn_qkv.weight" % l, [H, 3 * H], vals(3 * H * H, 3)),
                   ("blk.%d.ffn_up.weight" % l, [H, 2 * F], vals(2 * F * H, 4))]
        else:
            ts += [("blk.%d.attn_%s.weight" % (l, x), [H, H], vals(H * H, 5 + i)) for i, x in enumerate("qkv")]
            ts += [("blk.%d.ffn_gate.weight" % l, [H, F], vals(F * H, 8)),
                   ("blk.%d.ffn_up.weight" % l, [H, F], vals(F * H, 9))]
        ts += [("blk.%d.attn_output.weight" % l, [H, H], vals(H * H, 10)),
               ("blk.%d.ffn_down.weight" % l, [F, H], vals(F * H, 11))]
    return kv, ts


kv, ts = llama_like("llama")
put("gguf", "llama_spm", gguf_file(kv + SPM_KV, ts))
kv, ts = llama_like("gemma2", extra=[("attention.key_length", "u32", 4), ("attention.value_length", "u32", 4),
                                     ("attn_logit_softcapping", "f32", 50.0), ("final_logit_softcapping", "f32", 30.0),
                                     ("attention.sliding_window", "u32", 4)],
                    norms=("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"))
put("gguf", "gemma2_spm", gguf_file(kv + SPM_KV + [("tokenizer.ggml.add_space_prefix", "bool", 0)], ts))
kv, ts = llama_like("phi3", qkv_fused=True, extra=[("rope.dimension_count", "u32", 4),
                                                   ("rope.scaling.original_context_length", "u32", 16),
                                                   ("rope.scaling.attn_factor", "f32", (1 + __import__("math").log(4) / __import__("math").log(16)) ** 0.5),
                                                   ("attention.sliding_window", "u32", 0)])
ts += [("rope_factors_long.weight", [2], [2.0, 4.0]), ("rope_factors_short.weight", [2], [1.0, 1.5]),
       ("output.weight", [4, 12], vals(48, 12))]
put("gguf", "phi3_spm", gguf_file(kv + SPM_KV, ts))
put("gguf", "vocab_bpe", gguf_file([("general.architecture", "str", "gpt2")] + BPE_KV, []))
put("gguf", "container", read(ROOT, "tests", "data", "gguf", "container.gguf"))

# json_diff's seeds are written by hand (tests/fuzz/corpus/json_diff).
print("seeds written under", OUT, file=sys.stderr)
