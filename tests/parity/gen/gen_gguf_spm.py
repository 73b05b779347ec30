#!/usr/bin/python3
"""SentencePiece GGUF vocabularies (tokenizer.ggml.model "llama") of the
real Mistral, Phi-3, Gemma 2 and Gemma 3 tokenizers in ../shared, written
with llama.cpp's gguf-py — the independent twin of the C writer in
tests/parity/test_gguf_tokenizer.c (write_spm_gguf), used to check that
the files the test makes are what gguf-py makes of the same facts.

    PYTHONPATH=$LLAMA_CPP_DIR/gguf-py /usr/bin/python3 tests/parity/gen/gen_gguf_spm.py OUTDIR [SHARED_DIR]

writes OUTDIR/<family>.gguf (not committed: derived from the shared
tokenizer files, 0.7 to 6 MB each). Then

    yardstick tokenize --model OUTDIR/<family>.gguf --jsonl <test strings>

gives Hugging Face's ids (tests/parity/vectors/tokenizers/<family>.jsonl;
see tests/parity/gen/README_gguf.md).

What convert_hf_to_gguf.py's _create_vocab_sentencepiece would write
(read at llama.cpp c392e50 and a458664; facts, not code), with what it
reads from tokenizer.model taken from tokenizer.json, which Hugging Face
made from that file: pieces and ids; types (unknown, control for special
added tokens, byte for <0xAB>, else normal); scores, which only order the
merges: minus the index of the first merge forming the piece (0 when none
does). Then the converter's own rules: tokenizer_config.json's
added_tokens_decoder entries become CONTROL (special or looking special)
or USER_DEFINED with "▁" written as a space, score -1000; SpecialVocab's
bos/eos/unk/pad ids and add_bos/add_eos from tokenizer_config.json;
add_space_prefix false for Gemma 2 and 3.
"""
import gzip
import json
import os
import re
import sys

from gguf_py import load as _load_gguf  # noqa: E402

gguf = _load_gguf()

FAMILIES = [("mistral", "llama"), ("mistral_legacy", "llama"), ("phi3", "phi3"), ("gemma2", "gemma2"),
            ("gemma3", "gemma3")]


def looks_special(t):
    return t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (t.startswith("<|") and t.endswith("|>"))


def write(family, arch, shared, out):
    with gzip.open(os.path.join(shared, "tokenizers", family, "tokenizer.json.gz"), "rt", encoding="utf-8") as f:
        tj = json.load(f)
    with open(os.path.join(shared, "tokenizers", family, "tokenizer_config.json"), encoding="utf-8") as f:
        tc = json.load(f)
    model = tj["model"]
    vocab, added = model["vocab"], tj["added_tokens"]
    n = max(max(vocab.values()), max(a["id"] for a in added)) + 1
    pieces, toktypes, scores = [None] * n, [0] * n, [0.0] * n
    for p, i in vocab.items():
        pieces[i] = p
        toktypes[i] = (gguf.TokenType.UNKNOWN if p == model.get("unk_token") else
                       gguf.TokenType.BYTE if re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", p) else gguf.TokenType.NORMAL)
    for a in added:
        if pieces[a["id"]] is None:
            pieces[a["id"]] = a["content"]
        if a["special"] and toktypes[a["id"]] != gguf.TokenType.UNKNOWN:
            toktypes[a["id"]] = gguf.TokenType.CONTROL
    first = {}
    for k, m in enumerate(model["merges"]):
        joined = m.replace(" ", "", 1) if isinstance(m, str) else m[0] + m[1]
        first.setdefault(vocab[joined], k)
    for i in range(n):
        scores[i] = -float(first[i]) if i in first else 0.0
        if pieces[i] is None:
            pieces[i], toktypes[i], scores[i] = f"[PAD{i}]", gguf.TokenType.UNUSED, -10000.0
    for sid, d in tc.get("added_tokens_decoder", {}).items():
        i, content = int(sid), d["content"]
        if d.get("special") or looks_special(content):
            toktypes[i] = gguf.TokenType.CONTROL
        else:
            toktypes[i] = gguf.TokenType.USER_DEFINED
            content = content.replace("\u2581", " ")
        pieces[i], scores[i] = content, -1000.0

    def tid(key):
        v = tc.get(key)
        name = v if isinstance(v, str) else (v or {}).get("content")
        ids = [i for i, p in enumerate(pieces) if p == name] if name else []
        return ids[-1] if ids else None

    w = gguf.GGUFWriter(os.path.join(out, family + ".gguf"), arch)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(pieces)
    w.add_token_scores(scores)
    w.add_token_types(toktypes)
    for key, add in (("bos_token", w.add_bos_token_id), ("eos_token", w.add_eos_token_id),
                     ("unk_token", w.add_unk_token_id), ("pad_token", w.add_pad_token_id)):
        if tid(key) is not None:
            add(tid(key))
    w.add_add_bos_token(bool(tc.get("add_bos_token")))
    w.add_add_eos_token(bool(tc.get("add_eos_token")))
    w.add_name(family)
    w.add_quantization_version(2)
    if arch.startswith("gemma"):
        w.add_add_space_prefix(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "..", "..",
                                                                "shared")
    os.makedirs(out, exist_ok=True)
    for family, arch in FAMILIES:
        write(family, arch, shared, out)
        print(family, "written")


if __name__ == "__main__":
    main()
