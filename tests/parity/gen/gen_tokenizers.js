#!/usr/bin/env node
// gen_tokenizers.js — tokenizer parity vectors from the Rust HF tokenizers
// library through its official Node binding (npm tokenizers@0.23.2).
//
// Usage:
//   TOKREF_NODE_MODULES=/tmp/tokref/node_modules \
//   TOKENIZER_FILES=/tmp/tokfiles node tests/parity/gen/gen_tokenizers.js [family...]
//
// TOKENIZER_FILES holds one folder per family with the decompressed
// tokenizer.json (see README_tokenizers.md). Writes
// tests/parity/vectors/tokenizers/<family>.jsonl: one line per case,
// {"text", "add_special_tokens", "ids", "decoded", "decoded_skip_special"}
// where decoded is decode(ids, skip_special_tokens=false) and
// decoded_skip_special the same with true; plus 100 decode-only lines per
// family, {"ids", "decoded", "decoded_skip_special"} for random id
// sequences. Deterministic: fixed texts plus seeded generators.
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

// families added after the first vector files (their cases differ, see NEW_EXTRA)
const NEW_FAMILIES = ['gemma2', 'gemma3', 'gpt_neox'];
const FAMILIES = {
  gpt2: ['<|endoftext|>'],
  llama3: ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|start_header_id|>',
           '<|end_header_id|>', '<|reserved_special_token_0|>', '<|reserved_special_token_10|>',
           '<|reserved_special_token_1|>', '<|python_tag|>'],
  mistral: ['<s>', '</s>', '<unk>'],
  mistral_legacy: ['<s>', '</s>', '<unk>'],
  phi3: ['<s>', '</s>', '<unk>', '<|endoftext|>', '<|assistant|>', '<|user|>', '<|end|>',
         '<|system|>', '<|placeholder1|>'],
  qwen3: ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>',
          '<tool_call>', '<|fim_prefix|>'],
  o200k: ['<|endoftext|>', '<|endofprompt|>'],
  bert: ['[CLS]', '[SEP]', '[PAD]', '[MASK]', '[UNK]'],
  t5: ['</s>', '<pad>', '<unk>', '<extra_id_0>', '<extra_id_99>'],
  // added tokens, special or not (all normalized=false in the Gemma files)
  gemma2: ['<bos>', '<eos>', '<pad>', '<unk>', '<start_of_turn>', '<end_of_turn>', '<mask>', '[@BOS@]',
           '<unused0>', '<unused98>', '<table>', '</code>'],
  gemma3: ['<bos>', '<eos>', '<pad>', '<unk>', '<start_of_turn>', '<end_of_turn>', '<start_of_image>',
           '<end_of_image>', '<image_soft_token>', '<mask>', '[multimodal]', '<unused0>', '<div>'],
  gpt_neox: ['<|endoftext|>', '<|padding|>'],
};

// Extra cases for the WordPiece / Unigram families (BERT's normalizer and
// pre-tokenizer, SentencePiece's precompiled charsmap applied per grapheme).
// Characters assigned after Unicode 9.0 are avoided where BERT's classes
// matter (HF's unicode_categories tables are Unicode 9.0).
const EXTRA = [
  'Caf\u00e9 CAF\u00c9 na\u00efve \u00c5ngstr\u00f6m \u00d8re \u0141\u00f3d\u017a \u00c6sir \u0152uvre',
  'e\u0301 E\u0301 a\u030a n\u0303 o\u0308\u0304 u\u0308\u0301 i\u0307 \u0130 \u0131',
  '\u00e9\u0301 \u00df\u0301 \u00fc\u0323 a\u20d7 \u0391\u0301 \u03b1\u0313\u0301 \u0436\u0306',
  '\uff21\u0301 \u2460\u0301 \ufb01\u0301 \u2126\u0301 \u212b \u00bd\u0301 \u3000\u0301',
  '\uff28\uff45\uff4c\uff4c\uff4f\uff01 \uff11\uff12\uff13 \uff76\uff9e \uff8a\uff9f \u2162 \u2103 \u338f \u3392 \u2122 \u00aa',
  '\u1100\u1161\u11a8 \u1100\u1161 \ud55c\uae00 \u3131\u314f',
  'a\r\nb \r\n \r\r\n\n',
  '\u4e2d\u6587\u5b57 \u4e2dx\u6587 abc\u4e2d\u6587def \u3400\u4e00\u9fa5 \uf900\ufa0b \ud840\udc00\ud840\udc01 \u3042\u30a2\uac00',
  '\u201c\u201d\u2018\u2019\u00ab\u00bb \u2014\u2013\u2026 \u00bf\u00a1 \u3001\u3002 \uff0c\uff01\uff1f \u00a7\u00b6 \u2020\u2021 \u2030',
  '$ + < = > ^ ` | ~ \u00a2 \u00a3 \u00a5 \u20ac \u00b0 \u00b1 \u00d7 \u00f7 \u00a9 \u00ae',
  '...!!!???,,,;;;:::---___ a.b.c (a)[b]{c} "q" \'s\' 1,234.56 e.g. U.S.A. don\'t I\'m we\'re',
  'ctrl\u0001\u0002\u0007\u0008\u001b\u007f\u0080\u009f end', 'fmt\u00ad\u200b\u200c\u200d\u200e\u2060\ufeff\u2061 end',
  'priv\ue000\uf8ff\udb80\udc00 end', 'rep\ufffd\ufffdlacement', '\t\ttabs\tand\vvt\fff\u0085nel\u2028ls\u2029ps',
  'nb\u00a0sp \u1680ogham \u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a \u202f\u205f\u3000 x',
  '\u00a0', '\u3000', ' \u00a0 ', '\u2009\u2009',
  '\ud83d\ude00 \ud83d\udc4d\ud83c\udffd \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 \ud83c\uddfa\ud83c\uddf8 \u2764\ufe0f \u0031\ufe0f\u20e3 #\ufe0f\u20e3',
  '\u0915\u094d\u0937 \u0928\u092e\u0938\u094d\u0924\u0947 \u0e01\u0e33 \u0627\u064e\u0644\u0652',
  'a'.repeat(100), 'a'.repeat(101), 'b'.repeat(99) + '\u00e9', '\u00e9'.repeat(101), 'x ' + 'y'.repeat(150) + ' z',
  'unaffable unbelievably antidisestablishmentarianism xyzzyqwv qqqqqqqq zzzzzzzz',
  'HELLO World hElLo', '\u0130stanbul \u03a3\u039f\u03a6\u039f\u03a3 \u0394\u0399\u0391 \u1e9e\u00df',
  '   ', '\t\n', '\n', ' x ', '  two  spaces  ',
  '\u2581 \u2581\u2581 a\u2581b ##ing ## #',
  '<unk> <pad> [UNK] [unk] [PAD]x x[SEP] <extra_id_5>y',
];

// Extra cases for the families added later (Gemma 2, Gemma 3, GPT-NeoX),
// kept out of FIXED so the older families' files stay as they were.
// Space runs of 2..30 (NeoX has added tokens for runs of 2..24 spaces,
// matched after NFC; Gemma has pieces and added tokens for runs of
// U+2581), tab and newline runs (Gemma 3's added tokens go to 31 of each),
// characters missing from the vocabularies (byte fallback), NUL, and chat
// markup, and combining marks newer than Unicode 9.0 (NeoX normalizes with NFC).
function spaceRuns() {
  const out = [];
  for (let k = 2; k <= 30; k++) out.push(' '.repeat(k) + 'x', 'a' + ' '.repeat(k) + 'b');
  out.push(' '.repeat(24), ' '.repeat(25), ' '.repeat(48), ' '.repeat(49) + 'z', 'end' + ' '.repeat(30));
  return out;
}
const NEW_EXTRA = [
  ...spaceRuns(),
  '\t'.repeat(31), '\t'.repeat(33) + 'x', '\n'.repeat(31), '\n'.repeat(33) + 'y', ' \t \t\t  \n \n\n   ',
  'a\t\tb\n\n\nc \t\n d', '\n  \n    \n', '  \t', '\t  ', '\r\n\r\n  \r\n',
  'def f(x):\n    if x:\n        return [\n            x,\n        ]\n    return None\n',
  '\tint main(void)\n\t{\n\t\treturn 0;\n\t}\n',
  'x\u0000y', '\u0000', '\u0000\u0000 \u0000', 'nul\u0000\u0001\u001f end',
  '\ud840\udc00\ud869\udea5 \ud87e\udc00', '\udb40\udc01\udb40\udc7f tags', '\udbff\udffd \uf8ff \ue000',
  '\ud808\udc00\ud808\udc01 cuneiform \ud81c\udc00 tangut', '\ud83e\udee8\ud83e\udeb8 newer emoji',
  '\ufffe\uffff \ufdd0 nonchars', '\u0378\u0379 unassigned', '\u1680\u180e\u2000 x',
  // marks assigned after Unicode 9.0 (HF's NFC tables): starters there, no reordering
  '0\u0301\u0d3c', 'a\u0308\u1ac1\u0323 x', 'e\u0301\u08d3 e\u08d3\u0301', '\u0d3b\u0d3c\u0d4d', 'o\u0302\u1dfa\u0323',
  '\u1e9b\u0323\u0f39 \u0c3c\u0c4d',
  'e\u0301  e\u0301   \u00e9', '\u212b  \u2126   x', 'a\u00a0\u00a0 \u00a0  b', '\u3000\u3000  \u3000',
  '\u2581\u2581 \u2581 \u2581\u2581\u2581x', '\u2581'.repeat(40), '  \u2581  ',
  '<start_of_turn>user\nWrite a poem about the sea.<end_of_turn>\n<start_of_turn>model\n',
  '<bos><start_of_turn>user\nHi!<end_of_turn>\n<start_of_turn>model\nHello! How can I help?<end_of_turn>\n',
  '<start_of_turn>system\n  Be brief.  <end_of_turn>',
  '<start_of_turn', '<start_of_turn >', '<end_of_turn>>', '<<end_of_turn>', '<unused99>', '<unused6241>',
  '<table><tr><td>1</td></tr></table>', '<h1>Title</h1>\n<p>x</p>', '<image_soft_token><image_soft_token>',
  '<|endoftext|> <|padding|>  <|endoftext|>   x', '  <|endoftext|>  ', '<|endoftext|>' + ' '.repeat(30),
  'word '.repeat(400), 'x'.repeat(3000), ('a b  c   d    ' + '\u4e2d\u6587\ud83d\ude00 ').repeat(50),
];
// pool additions for the new families' random strings
const NEW_POOL = ['   ', '    ', '        ', '\t\t', '\n\n', '\u0000', '\ud840\udc00', '\udbff\udffd', '\u2581\u2581',
  '<start_of_turn>', '<end_of_turn>', '<table>', 'user', 'model'];

// Hand-written cases shared by every family.
const FIXED = [
  '', ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n ', '\t\t x', 'a', 'A', '.',
  'Hello world', 'Hello world!', ' Hello world', '  Hello  world  ', 'Hello\tworld',
  'Hello\nworld', 'Hello\n\nworld\n', 'Hello\r\nworld\r\n', 'trailing space ',
  'trailing spaces   ', '   leading spaces', '\n\n\nleading newlines',
  "I'm fine, you're great, he's here, we've gone, they'll see, I'd say, don't",
  "I'M FINE, YOU'RE GREAT, HE'S HERE, WE'VE GONE, THEY'LL SEE, I'D SAY, DON'T",
  "It\u2019s the curly apostrophe\u2019s turn", "'s 't 're 've 'm 'll 'd", "x's", "''quoted''",
  'The quick brown fox jumps over the lazy dog.',
  'THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG',
  'camelCaseWordsAndPascalCase HTTPServer getHTTPResponseCode iPhone McDonald',
  'snake_case_identifier __init__ x_1 _private',
  '1 12 123 1234 12345 123456 1234567 3.14159 -42 +7 1,000,000 1e-9 0x1F 2024-01-31',
  '\u0661\u0662\u0663 \u0968\u0969 \u2460\u2461 \u00bd \u2153 \uff11\uff12\uff13 \u00b2\u00b3',
  'caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber Stra\u00dfe fa\u00e7ade co\u00f6perate',
  'cafe\u0301 nai\u0308ve e\u0301\u0301 a\u030a A\u030a o\u0302\u0323 \u1e9b\u0323',
  '\u0041\u030a \u212b \u00c5 \u2126 \u1100\u1161\u11a8 \uac00\u11a8 \ud55c\uad6d\uc5b4',
  'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u0334\u0335\u031c\u0330\u0354L\u0360\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341O',
  '\u4f60\u597d\u4e16\u754c', '\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u5427\u3002',
  '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a',
  '\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4',
  '\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?',
  '\u0391\u03b8\u03ae\u03bd\u03b1 \u03c3\u03bf\u03c6\u03af\u03b1 \u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3',
  '\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd',
  '\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a \u1780\u17d2\u1798\u17c2\u179a',
  'mixed English \u4e2d\u6587 \u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 123 \u65e5\u672c',
  '\ud83d\ude00 \ud83d\ude03\ud83d\ude04 \ud83d\udc4d\ud83c\udffd \ud83c\uddeb\ud83c\uddf7 \ud83c\uddfa\ud83c\uddf8',
  '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 family \ud83d\udc69\u200d\ud83d\udcbb coder \ud83c\udff3\ufe0f\u200d\ud83c\udf08',
  '\u2764\ufe0f \u263a \u2603\ufe0f \u2b50 \ud83e\udd16\ud83e\udde0',
  'emoji\ud83d\ude00inside\ud83d\ude00words', '\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00',
  'zero\u200bwidth\u200cjoiner\u200dtest \ufeffBOM',
  'nbsp\u00a0between\u00a0words \u00a0\u00a0 lead', 'ideographic\u3000space thin\u2009space en\u2002space',
  'line\u2028separator para\u2029separator nel\u0085char', 'vertical\u000btab form\u000cfeed',
  'ctrl\u0001\u0002\u0003\u007f chars\u001f', 'tab\tseparated\tvalues\t1\t2',
  '    def f(x):\n        return x + 1\n', 'if (a && b || !c) { return a->b[0]; }',
  '<html><body class="x">Hi &amp; bye</body></html>',
  'https://example.com/path?query=1&b=2#frag', 'user@example.com', '$100.00 \u20ac50 \u00a330 \u00a5100',
  '\u201cquoted\u201d \u2018single\u2019 \u00abguillemets\u00bb \u2014 dash \u2013 en \u2026 ellipsis',
  '!!! ??? ... --- *** ### @@@', '(((nested)))', '\\backslash\\ /slash/ |pipe|',
  'a\nb\nc\n\n\nd', 'word\n\n', '\n \n \n', ' \t \n \r ', 'x \n y', 'end.\n',
  'supercalifragilisticexpialidocious', 'pneumonoultramicroscopicsilicovolcanoconiosis',
  'Donaudampfschifffahrtsgesellschaftskapit\u00e4n',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'ab'.repeat(150), 'the '.repeat(60), '\u4e00\u4e8c\u4e09'.repeat(40), '\ud83d\ude00'.repeat(30),
  ' '.repeat(40) + 'x', '\n'.repeat(20), '1234567890'.repeat(10), '-'.repeat(64), '=+'.repeat(30),
  '\u0130stanbul \u0131\u015f\u0131k \u1e9e \u00df \u017f\u017ftrange \u212a\u212aelvin',
  "'\u017f", "it'\u017f", "IT'S it'S It's",
  '\u00ad soft\u00adhyphen', '\ufb01 ligature \ufb00', '\u2160 \u2161 roman', '\u3231 \u33a1 \u2122',
  '\ud800\udc00 linear b \ud835\udc00\ud835\udc01 math bold', '\u0e01\u0e34\u0e19\u0e02\u0e49\u0e32\u0e27',
  'Hello\u0085world', 'spaces before newline   \nnext', 'newline then spaces\n   x',
  '\r\r\n\n\r', 'a\r\nb', '\t\n\t\n', 'x\ty', '  \u3000  ',
  '\u2581already metaspace\u2581\u2581x', '\u2581', '\u0120G dot \u010a', '<0x41> byte token text',
];

// Special-token text placed inside ordinary text.
function specialCases(specials) {
  const out = [];
  for (const s of specials) {
    out.push(s, `${s}Hello`, `Hello${s}`, `Hello ${s} world`, ` ${s} `, `${s}${s}`, `a\n${s}\nb`,
             `  ${s}  x  `, `${s} leading`, `trailing ${s}`, `${s}\n`, `x${s}y`);
  }
  out.push(specials.join(''), specials.join(' '), specials.join('\n'),
           `<|partial`, `<|endoftext`, `<|endoftext|`, `<s`, `</s`, `s>`, `<<s>>`, `<|im_start|>user\nHi<|im_end|>`,
           `<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>`,
           `<|user|>\nHi there<|end|>\n<|assistant|>\nHello!<|end|>`, '<think>\nhmm\n</think>\n\nok');
  return out;
}

// Seeded random strings over a pool of tricky code points.
function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const POOL = [
  ' ', ' ', ' ', ' ', '  ', '\t', '\n', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2009', '\u0085', '\u2028',
  'a', 'e', 't', 'th', 'the', 'ing', 'and', 'Hello', 'WORLD', 'Zebra', 'x', 'q', 'k', 'ss',
  "'s", "'t", "'re", "'LL", "'", '"', '.', ',', '!', '?', ';', ':', '-', '_', '/', '\\', '(', ')', '[', '{', '<', '>', '|', '@', '#', '$', '%', '^', '&', '*', '+', '=', '~', '`',
  '0', '1', '7', '42', '123', '2024', '99999', '3.14',
  '\u00e9', 'e\u0301', '\u00fc', 'u\u0308', '\u00c5', 'A\u030a', '\u0301', '\u0308\u0323', '\u00df', '\u0131', '\u0130',
  '\u4e2d', '\u6587', '\u5b57', '\u3002', '\uff0c', '\u3042', '\u30a2', '\ud55c', '\u1100\u1161', '\u11a8',
  '\u0416', '\u0436', '\u03a9', '\u03c9', '\u05d0', '\u0627', '\u0928\u094d', '\u0e01', '\u1780',
  '\ud83d\ude00', '\ud83d\udc4d\ud83c\udffd', '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67', '\ud83c\uddeb\ud83c\uddf7', '\u2764\ufe0f', '\u200d', '\u200b', '\ufeff',
  '\u2581', '\u0120', '\u20ac', '\u2122', '\u2026', '\u2014', '\u201c', '\u2019', '\u00bd', '\u0661', '\u2460', '\uff11',
  '\u0001', '\u007f', '\ud835\udc00', '\u00ad', '\ufb01',
];
function randomTexts(n, seed, specials, pool = POOL) {
  const rnd = mulberry32(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(rnd() * (i % 10 === 9 ? 200 : 25));
    let s = '';
    for (let j = 0; j < len; j++) {
      if (specials.length && rnd() < 0.02) s += specials[Math.floor(rnd() * specials.length)];
      else s += pool[Math.floor(rnd() * pool.length)];
    }
    out.push(s);
  }
  return out;
}

// A longer prose paragraph (our own words) repeated with variations.
function prose() {
  const words = ('the of and to in is was for on that with as by at from his her they be this ' +
    'are which or had not but it an were one their all there been has have also who more when ' +
    'evaluation harness model token language number results score after first two new time ' +
    'between during under season album character government population river village').split(' ');
  const rnd = mulberry32(12345);
  const out = [];
  for (let p = 0; p < 6; p++) {
    let s = '';
    const n = 80 + p * 60;
    for (let i = 0; i < n; i++) {
      let w = words[Math.floor(rnd() * words.length)];
      if (i === 0 || rnd() < 0.08) w = w[0].toUpperCase() + w.slice(1);
      s += w;
      const r = rnd();
      s += r < 0.06 ? ', ' : r < 0.1 ? '. ' : r < 0.11 ? '\n' : r < 0.115 ? ' @-@ ' : r < 0.12 ? ' ( ' : ' ';
    }
    out.push(s);
  }
  return out;
}

async function main() {
  const want = process.argv.slice(2);
  const fams = want.length ? want : Object.keys(FAMILIES);
  const outDir = path.join(__dirname, '..', 'vectors', 'tokenizers');
  fs.mkdirSync(outDir, { recursive: true });
  for (const fam of fams) {
    const file = path.join(filesDir, fam, 'tokenizer.json');
    if (!fs.existsSync(file)) { console.error(`skip ${fam}: no ${file}`); continue; }
    const tok = Tokenizer.fromFile(file);
    const specials = FAMILIES[fam];
    const extra = (fam === 'bert' || fam === 't5') ? EXTRA : [];
    const later = NEW_FAMILIES.includes(fam);
    const random = later ? randomTexts(160, 7 + fam.length + 100 * (1 + NEW_FAMILIES.indexOf(fam)), specials, [...POOL, ...NEW_POOL])
      : randomTexts(160, 7 + fam.length, specials);
    const texts = [...FIXED, ...extra, ...(later ? NEW_EXTRA : []), ...specialCases(specials), ...prose(), ...random];
    const lines = [];
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i];
      // every text without special tokens; every other one (and all the
      // special-token cases) with them too
      const modes = (i % 2 === 0 || specials.some((s) => text.includes(s))) ? [false, true] : [false];
      for (const add of modes) {
        const enc = await tok.encode(text, null, { addSpecialTokens: add });
        const ids = Array.from(enc.getIds());
        const decoded = await tok.decode(ids, false);
        const decoded_skip_special = await tok.decode(ids, true);
        const rec = { text, add_special_tokens: add, ids, decoded, decoded_skip_special };
        // C strings end at NUL: such texts and decodings also go as hex
        if (text.includes('\u0000') || decoded.includes('\u0000')) {
          const hex = (x) => Buffer.from(x, 'utf8').toString('hex');
          Object.assign(rec, { text_hex: hex(text), decoded_hex: hex(decoded), decoded_skip_special_hex: hex(decoded_skip_special) });
        }
        lines.push(JSON.stringify(rec));
      }
    }
    // decode-only cases: random id sequences (partial UTF-8 sequences,
    // byte-fallback pieces, added tokens in the middle); no "text" field.
    // Sequences whose decoding contains U+0000 are left out (C strings).
    const V = tok.getVocabSize(true);
    const rnd = mulberry32(4242 + fam.length);
    let made = 0;
    while (made < 100) {
      const n = 1 + Math.floor(rnd() * 12);
      const ids = [];
      for (let j = 0; j < n; j++) {
        const r = rnd();
        ids.push(r < 0.4 ? Math.floor(rnd() * 300) : r < 0.55 ? V - 1 - Math.floor(rnd() * 30) : Math.floor(rnd() * V));
      }
      const decoded = await tok.decode(ids, false);
      const decoded_skip_special = await tok.decode(ids, true);
      if (decoded.includes('\u0000')) continue;
      lines.push(JSON.stringify({ ids, decoded, decoded_skip_special }));
      made++;
    }
    const out = path.join(outDir, `${fam}.jsonl`);
    fs.writeFileSync(out, lines.join('\n') + '\n');
    console.error(`${fam}: ${lines.length} vectors -> ${out}`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
