#!/usr/bin/env python3
"""Write small tokenizer.json files (Hugging Face `tokenizers` format) into the
tiny encoder and encoder-decoder test checkpoints, so that `yardstick run`
and `yardstick classify --text` can be exercised end to end on them.

The checkpoints have 100-token vocabularies; real BERT/T5 vocabularies do not
fit, so these are made-up vocabularies in the real file layouts:

- WordPiece (bert_cls, bert_stsb, distilbert_cls): BertNormalizer (lowercase),
  BertPreTokenizer, WordPiece model with "##" continuation pieces,
  TemplateProcessing [CLS] A [SEP] (B [SEP]) with type ids 0/1, WordPiece
  decoder.
- Unigram (t5, t5v11): WhitespaceSplit + Metaspace pre-tokenizer, Unigram model with
  log-probability scores, TemplateProcessing A </s> (B </s>), Metaspace
  decoder.

Deterministic; standard library only. Run from the repository root:
    python3 tests/parity/gen/gen_tiny_tokenizers.py
"""
import json
import math
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
MODELS = os.path.join(ROOT, "tests", "data", "models")

LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
DIGITS = [str(d) for d in range(10)]
PUNCT = list(".,?!'\"-:;()")


def added(content, i):
    return {"id": i, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": True}


def wordpiece():
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = ["the", "a", "is", "and", "not", "of", "to", "in", "it", "was",
             "man", "dog", "cat", "sentence", "he", "she", "##s", "##ing", "##ed", "##er", "##ly", "##e"]
    vocab = special + LETTERS + DIGITS + PUNCT + ["##" + c for c in LETTERS] + words
    assert len(vocab) == 100, len(vocab)
    ids = {t: i for i, t in enumerate(vocab)}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(t, ids[t]) for t in special],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [ids["[CLS]"]], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [ids["[SEP]"]], "tokens": ["[SEP]"]}},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }


def unigram():
    special = ["<pad>", "</s>", "<unk>"]
    words = ["the", "a", "is", "and", "not", "of", "to", "in", "it", "was", "man", "dog", "house",
             "das", "der", "die", "ist", "und", "ein", "haus", "hund", "translate", "german", "english"]
    pieces = [("\u2581" + w) for w in words] + ["\u2581"] + LETTERS + DIGITS + PUNCT + \
        ["s", "er", "en", "ing", "ed", "ch", "sch", "ie", "ei", "st", "nd", "te", "an", "on", "re", "es",
         "at", "ar", "or", "al", "ll", "\u2581s", "\u2581t", "\u2581d", "\u2581w"]
    vocab = [[t, 0.0] for t in special]
    # longer pieces are more likely: a simple, deterministic score
    for k, p in enumerate(pieces):
        vocab.append([p, round(-8.0 + 0.9 * len(p) - 0.01 * k, 4)])
    vocab = vocab[:100]
    assert len(vocab) == 100, len(vocab)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(t, i) for i, t in enumerate(special)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": False},
    }


def write(model, tok):
    path = os.path.join(MODELS, model, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT))


if __name__ == "__main__":
    for m in ("bert_cls", "bert_stsb", "distilbert_cls"):
        write(m, wordpiece())
    for m in ("t5", "t5v11"):
        write(m, unigram())
