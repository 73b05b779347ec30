#!/usr/bin/env node
// bench_tokenizer.js — encode throughput of yardstick's engine/tokenizer
// against the Rust HF tokenizers library through npm (tokenizers@0.23.2),
// single thread, same text, same chunks, measured in the same run. Also
// checks that both produce the same number of tokens and the same checksum.
//
// Usage (after building; see tests/parity/gen/README_tokenizers.md for the
// npm setup):
//   TOKREF_NODE_MODULES=/tmp/tokref/node_modules node bench/bench_tokenizer.js \
//       [--build build] [--shared ../shared] [--mb 5] [--repeat 3] [--chunk 65536] [family...]
//
// Text: WikiText-2 test (../shared/data/lm/wikitext-2/test.txt) repeated to
// --mb megabytes when present, else generated English-like prose. It is cut
// into chunks of whole lines of at least --chunk bytes; each chunk is one encode
// call (no special tokens). Best of --repeat passes for each side.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

process.env.RAYON_NUM_THREADS = '1';
process.env.TOKENIZERS_PARALLELISM = 'false';

const args = process.argv.slice(2);
const opt = { build: 'build', shared: path.join(__dirname, '..', '..', 'shared'), mb: 5, repeat: 3, chunk: 65536 };
const fams = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith('--')) opt[args[i].slice(2)] = args[++i];
  else fams.push(args[i]);
}
if (!fams.length) fams.push('gpt2', 'llama3', 'qwen3', 'o200k', 'mistral', 'mistral_legacy', 'phi3');
const modDir = process.env.TOKREF_NODE_MODULES;
if (!modDir) { console.error('set TOKREF_NODE_MODULES to the folder holding tokenizers@0.23.2'); process.exit(2); }
const { Tokenizer } = require(path.join(modDir, 'tokenizers'));
const exe = path.resolve(opt.build, 'bench', 'tok_throughput');
if (!fs.existsSync(exe)) { console.error(`no ${exe}: build first (--build DIR)`); process.exit(2); }

const CHUNK = Number(opt.chunk);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ys-tokbench-'));

function makeText() {
  const want = Number(opt.mb) * 1e6;
  const wt = path.join(opt.shared, 'data', 'lm', 'wikitext-2', 'test.txt');
  let base;
  if (fs.existsSync(wt)) base = fs.readFileSync(wt, 'utf8');
  else {
    const words = 'the of and to in is was for on that with as by at from his her they be this are which or had not but it an were one their all there been has have also who more when'.split(' ');
    let s = '', x = 1;
    while (s.length < 1e6) {
      x = (x * 1103515245 + 12345) % 2147483648;
      s += words[x % words.length] + ((x >> 8) % 13 === 0 ? ' .\n' : ' ');
    }
    base = s;
  }
  let text = '';
  while (Buffer.byteLength(text) < want) text += base;
  return text;
}

function chunks(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    let end = Math.min(pos + CHUNK, buf.length);
    while (end < buf.length && buf[end - 1] !== 0x0a) end++;
    out.push(buf.subarray(pos, end).toString('utf8'));
    pos = end;
  }
  return out;
}

async function ref(file, parts, bytes) {
  const t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(file);
  const load = Number(process.hrtime.bigint() - t0) / 1e9;
  let best = Infinity, tokens = 0, sum = 0;
  for (let r = 0; r < Number(opt.repeat); r++) {
    tokens = 0; sum = 0;
    const s = process.hrtime.bigint();
    for (const p of parts) {
      const ids = (await tok.encode(p, null, { addSpecialTokens: false })).getIds();
      for (const id of ids) sum = (Math.imul(sum, 31) + id) >>> 0;
      tokens += ids.length;
    }
    best = Math.min(best, Number(process.hrtime.bigint() - s) / 1e9);
  }
  return { tokens, checksum: sum, load_seconds: load, seconds: best, mb_per_s: bytes / best / 1e6 };
}

async function main() {
  const text = makeText();
  const textFile = path.join(tmp, 'text.txt');
  fs.writeFileSync(textFile, text);
  const buf = fs.readFileSync(textFile);
  const parts = chunks(buf);
  console.log(`text: ${(buf.length / 1e6).toFixed(2)} MB in ${parts.length} chunks; node ${process.version}, tokenizers@0.23.2, ${os.cpus()[0].model}`);
  console.log('family          yardstick MB/s   npm tokenizers MB/s   ratio   tokens      ids equal');
  for (const fam of fams) {
    const dir = path.join(tmp, fam);
    fs.mkdirSync(dir);
    const src = path.join(opt.shared, 'tokenizers', fam);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      if (fs.existsSync(path.join(src, f + '.gz'))) execFileSync('sh', ['-c', `gzip -dc '${path.join(src, f + '.gz')}' > '${path.join(dir, f)}'`]);
      else if (fs.existsSync(path.join(src, f))) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    }
    if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) { console.log(`${fam}: no tokenizer files, skipped`); continue; }
    const ys = JSON.parse(execFileSync(exe, [dir, textFile, String(CHUNK), String(opt.repeat)]).toString());
    const rf = await ref(path.join(dir, 'tokenizer.json'), parts, buf.length);
    const same = ys.tokens === rf.tokens && ys.checksum === rf.checksum;
    console.log(`${fam.padEnd(16)}${ys.mb_per_s.toFixed(2).padStart(14)}${rf.mb_per_s.toFixed(2).padStart(22)}${(ys.mb_per_s / rf.mb_per_s).toFixed(2).padStart(8)}x   ${String(ys.tokens).padEnd(12)}${same ? 'yes' : 'NO'}`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
main().catch((e) => { console.error(e); fs.rmSync(tmp, { recursive: true, force: true }); process.exit(1); });
