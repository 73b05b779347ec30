#!/usr/bin/env node
// gen_tokenizers_pairs.js — parity vectors for pair encoding, type ids and
// truncation (HF encode(a, b) with the post-processor's pair template,
// TruncationStrategy::LongestFirst), from the Rust HF tokenizers library
// through its Node binding (npm tokenizers@0.23.2).
//
// Usage:
//   TOKREF_NODE_MODULES=/tmp/tokref/node_modules \
//   TOKENIZER_FILES=/tmp/tokfiles node tests/parity/gen/gen_tokenizers_pairs.js
//
// Also writes tests/parity/vectors/tokenizers/roberta_tiny/tokenizer.json: a
// small RoBERTa-style tokenizer derived from GPT-2's tokenizer.json (byte
// level BPE, the first 3000 merges and the pieces they need, <s> <pad> </s>
// <unk> at ids 0-3 as in roberta-base, <mask> with lstrip, RobertaProcessing).
// And unigram_tiny/ and wordpiece_tiny/tokenizer.json (see buildUnigramTiny,
// buildWordPieceTiny). Then writes
// tests/parity/vectors/tokenizers/<family>_pairs.jsonl for bert, t5, gpt2
// (no template: B gets type id 1) and the three tiny files; one line
// per case: {"a", "b" (null: single), "add_special_tokens", "max_length" (0:
// no truncation), "ids", "type_ids", "decoded" (decode(ids, false))}.
// Deterministic.
'use strict';
const path = require('path');
const fs = require('fs');

const modDir = process.env.TOKREF_NODE_MODULES;
const filesDir = process.env.TOKENIZER_FILES;
if (!modDir || !filesDir) {
  console.error('set TOKREF_NODE_MODULES (folder with tokenizers@0.23.2) and TOKENIZER_FILES');
  process.exit(2);
}
const { Tokenizer } = require(path.join(modDir, 'tokenizers'));
const vecDir = path.join(__dirname, '..', 'vectors', 'tokenizers');

function buildRobertaTiny() {
  const src = JSON.parse(fs.readFileSync(path.join(filesDir, 'gpt2', 'tokenizer.json'), 'utf8'));
  const N_MERGES = 3000;
  const merges = src.model.merges.slice(0, N_MERGES).map((m) => (Array.isArray(m) ? m : m.split(' ')));
  const byId = Object.entries(src.model.vocab).sort((x, y) => x[1] - y[1]);
  const keep = new Set(byId.filter(([, id]) => id < 256).map(([p]) => p)); // the byte alphabet
  for (const [a, b] of merges) {
    if (!keep.has(a) || !keep.has(b)) throw new Error(`merge ${a} ${b} uses an unknown piece`);
    keep.add(a + b);
  }
  const vocab = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3 };
  let next = 4;
  for (const [p] of byId) if (keep.has(p)) vocab[p] = next++;
  const mask = next;
  vocab['<mask>'] = mask;
  const added = (id, content, lstrip) => ({ id, content, single_word: false, lstrip, rstrip: false,
                                            normalized: false, special: true });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(0, '<s>', false), added(1, '<pad>', false), added(2, '</s>', false),
                   added(3, '<unk>', false), added(mask, '<mask>', true)],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true,
                      add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
}

// A small SentencePiece-style Unigram tokenizer with byte_fallback (none of
// the real files has one): t5-small's first 3000 pieces and scores plus the
// 256 <0xNN> byte pieces, Metaspace (prepend_scheme first), Llama-style
// decoder, a "<s> A" / "<s> A <s> B" template with type ids 0 / 1.
function buildUnigramTiny() {
  const src = JSON.parse(fs.readFileSync(path.join(filesDir, 't5', 'tokenizer.json'), 'utf8'));
  const vocab = [['<unk>', 0.0], ['<s>', 0.0], ['</s>', 0.0]];
  for (let b = 0; b < 256; b++) vocab.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0.0]);
  for (const [p, sc] of src.model.vocab.slice(3, 3000)) vocab.push([p, sc]);
  const added = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false,
                                    normalized: false, special: true });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
             { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [
      { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' },
      { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: true },
  };
}

// A WordPiece tokenizer with the stand-alone normalizers and pieces BERT
// files do not use: bert-base-uncased's first 6000 pieces, Sequence[NFD,
// Lowercase, StripAccents], WhitespaceSplit, BertProcessing, a WordPiece
// decoder without cleanup, max_input_chars_per_word 12.
function buildWordPieceTiny() {
  const src = JSON.parse(fs.readFileSync(path.join(filesDir, 'bert', 'tokenizer.json'), 'utf8'));
  const vocab = {};
  for (const [p, id] of Object.entries(src.model.vocab)) if (id < 6000) vocab[p] = id;
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: src.added_tokens,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'Lowercase' }, { type: 'StripAccents' }] },
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 12, vocab },
  };
}

const TEXTS = [
  '',
  'Hello world!',
  'The quick brown fox jumps over the lazy dog.',
  'Is this a question? Yes, it is: a rather long answer that goes on and on, with commas, clauses and more words.',
  'caf\u00e9 \u4e2d\u6587 na\u00efve \ud83d\ude00 don\'t',
  'a b c d e f g h i j k l m n o p',
  '  spaced   out  ',
  'x',
];
const SPECIAL_TEXT = {
  bert: 'first [SEP] second [MASK] third',
  t5: 'translate <extra_id_0> this </s> now',
  gpt2: 'end<|endoftext|>start again',
  roberta_tiny: 'the <mask> sat on the </s> mat',
  unigram_tiny: 'bytes \u00fe\u4e2d\u6587\ud83d\ude00 <s> and \u0416\u0436 back',
  wordpiece_tiny: 'CAF\u00c9 \u1e9b\u0323 n\u0303o \u0915\u093f [SEP] uncharacteristically , don\'t .',
};
const MAX_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 16, 32, 512];

async function main() {
  const tinyDir = path.join(vecDir, 'roberta_tiny');
  fs.mkdirSync(tinyDir, { recursive: true });
  fs.writeFileSync(path.join(tinyDir, 'tokenizer.json'), JSON.stringify(buildRobertaTiny()) + '\n');
  const uniDir = path.join(vecDir, 'unigram_tiny');
  fs.mkdirSync(uniDir, { recursive: true });
  fs.writeFileSync(path.join(uniDir, 'tokenizer.json'), JSON.stringify(buildUnigramTiny()) + '\n');
  const wpDir = path.join(vecDir, 'wordpiece_tiny');
  fs.mkdirSync(wpDir, { recursive: true });
  fs.writeFileSync(path.join(wpDir, 'tokenizer.json'), JSON.stringify(buildWordPieceTiny()) + '\n');
  const files = {
    bert: path.join(filesDir, 'bert', 'tokenizer.json'),
    t5: path.join(filesDir, 't5', 'tokenizer.json'),
    gpt2: path.join(filesDir, 'gpt2', 'tokenizer.json'),
    roberta_tiny: path.join(tinyDir, 'tokenizer.json'),
    unigram_tiny: path.join(uniDir, 'tokenizer.json'),
    wordpiece_tiny: path.join(wpDir, 'tokenizer.json'),
  };
  for (const [fam, file] of Object.entries(files)) {
    const texts = [...TEXTS, SPECIAL_TEXT[fam]];
    const cases = [];
    for (const a of texts) cases.push([a, null]);
    for (const a of texts) for (const b of texts) cases.push([a, b]);
    const lines = [];
    for (const ml of MAX_LENGTHS) {
      const tok = Tokenizer.fromFile(file);
      if (ml) tok.setTruncation(ml);
      for (const [a, b] of cases) {
        for (const add of [true, false]) {
          const enc = await tok.encode(a, b, { addSpecialTokens: add });
          const ids = Array.from(enc.getIds());
          lines.push(JSON.stringify({ a, b, add_special_tokens: add, max_length: ml, ids,
                                      type_ids: Array.from(enc.getTypeIds()), decoded: await tok.decode(ids, false) }));
        }
      }
    }
    const out = path.join(vecDir, `${fam}_pairs.jsonl`);
    fs.writeFileSync(out, lines.join('\n') + '\n');
    console.error(`${fam}: ${lines.length} vectors -> ${out}`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
