#!/usr/bin/python3
"""Float64 references of the engine's `--compute bf16` mode (engine/gemm.h,
"BF16 dot products"; model.h, model_opts.compute_bf16) on the tiny base
fixtures, and the error of that mode against the exact forward pass.
See README_bf16.md.

The mode is yardstick's own arithmetic (issue 12), so this is written from
its contract, not from an HF file: every projection matrix of the decoder
blocks and the LM head is a BF16 dot product. Its weights are rounded to
BF16 (nearest, ties to even, from the stored F32/F16 values; BF16 kept), the
activations entering the product are rounded the same way (fp32 subnormals
to zero), the products of two BF16 values are exact and the engine sums
them in fp32. Here the rounded operands are multiplied and summed in
float64: that is the exact-product arithmetic up to the engine's fp32
summation error. Everything else (norms, RoPE, attention, biases,
activations, soft-capping) is the exact path's float64. A tied embedding is
the head's matrix, so with a tied head the embedding rows are the BF16
values too (the engine reads them back from the packed head); an untied
embedding (and GPT-2's position table) stays exact.

The forward passes are gen_models.py's and gen_arch_models.py's, imported
and unchanged: the weights of the rounded matrices are handed to them as
BF16Matrix objects, whose `h @ W` rounds h first. The base fixtures are
read, never rewritten, and the unrounded forward here is checked to give
their expected.json back.

Run with Debian's interpreter:  /usr/bin/python3 tests/parity/gen/gen_bf16.py
Writes tests/data/bf16/<model>.json. Deterministic.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_models as gm  # noqa: E402
import gen_arch_models as gam  # noqa: E402
import gen_quant as gq  # noqa: E402

F64 = torch.float64
BOUT = os.path.join(gm.ROOT, "tests", "data", "bf16")
MODELS_DIR = gm.OUT

CHANGE_MIN = 1e-3      # a file whose log-probs move less than this could pass with the mode off
MARGIN_MIN = gam.MARGIN_MIN
TOL = 1e-4             # test_bf16.c's tolerance where no near tie matters (below)
# Rounding is discontinuous: where an activation's float64 value lies very
# near a rounding boundary (the midpoint of two BF16 neighbours), the
# engine's fp32 value, a few fp32 roundings away, may fall on the other
# side, and that element then moves by a BF16 ulp (2^-8..2^-7 of itself):
# on these fixtures such a flip moved a log-prob by up to 1.6e-2, while
# positions without one agree with the engine to < 1e-6. An element is a
# near tie when its distance to the boundary is below
# NEAR_REL * max(|x|, rms of its row). For each near tie of a scored call
# the reference is recomputed with that one element rounded the other way;
# the sum of those changes at a position is its flip_bound, which
# test_bf16.c adds to TOL. 2^-21 is 4x the largest distance of a flip the
# engine was seen to take on these fixtures (between 2^-24 and 2^-23 of the
# row's scale: with 2^-24 one GPT-2 position failed, with 2^-23 none).
NEAR_REL = 2.0 ** -21
# Sites whose pairs with every other site are added to the bounds (near_tie_bounds).
PAIR_TOP = 4
# Extra short sequences (lengths 3..10): few roundings, so most of their
# positions carry no near tie and are checked at TOL alone.
EXTRA = 24

RUNS = ["llama", "qwen2", "gpt2", "pythia", "gemma2"]

# ---------------------------------------------------------------- BF16 rounding

TINY = 2.0 ** -126      # smallest normal fp32 (and BF16); below it the engine flushes to zero


def bf16_split(a):
    """a float64 array -> (rounded, distance of each element to its nearest
    rounding boundary, the other neighbour). Round to nearest, ties to even,
    at 8 significant bits; |a| < 2^-126 to zero (distance inf: not a tie
    the engine could break otherwise). Exact: frexp, ldexp and rint on
    these values change no bit but the dropped ones."""
    a = np.asarray(a, np.float64)
    m, e = np.frexp(a)                         # a = m 2^e, 0.5 <= |m| < 1
    s = m * 256.0                              # 128 <= |s| < 256: exact
    r = np.rint(s)                             # numpy rint: halves to even
    lo = np.floor(s)
    other = np.where(r == lo, lo + 1, lo)      # the neighbour not chosen
    flush = np.abs(a) < TINY
    out = np.where(flush, 0.0, np.ldexp(r, e - 8))
    alt = np.where(flush, 0.0, np.ldexp(other, e - 8))
    dist = np.where(flush, np.inf, np.ldexp(np.abs(s - lo - 0.5), e - 8))
    if not np.isfinite(out).all():
        raise OverflowError("value beyond BF16's range")
    return out, dist, alt


def bf16_bits(a32):
    """fp32 -> BF16 by integer arithmetic on the bits (add 0x7fff plus the
    kept lowest bit, truncate), a second statement of round-to-nearest-even
    for finite normal values, used to check bf16_split on every weight."""
    u = np.ascontiguousarray(a32, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def self_test():
    """A few hand-made values: ties both ways, carries into the exponent,
    negative values, fp32 subnormals."""
    one = 1.0
    cases = [(one + 2 ** -8, one), (one + 3 * 2 ** -8, one + 2 ** -6),
             (-(one + 2 ** -8), -one), (one + 2 ** -8 + 2 ** -20, one + 2 ** -7),
             (2 - 2 ** -9, 2.0), (255.5 * 2 ** -7, 256 * 2 ** -7), (3 * 2 ** -130, 0.0),
             (2 ** -126, 2 ** -126), (-(2 ** -127), 0.0), (0.1, 0.10009765625)]
    # (1 + 2^-8: the tie between 1 (even) and 1 + 2^-7; 1 + 3 * 2^-8: between
    # 1 + 2^-7 (odd last bit) and 1 + 2^-6; 2 - 2^-8: between 2 - 2^-7 and 2)
    for x, want in cases:
        got = bf16_split(np.array([x]))[0][0]
        assert got == want, (x, got, want)
        if abs(x) >= TINY:
            assert bf16_bits(np.array([x], np.float32))[0] == want, x


# ---------------------------------------------------------------- the rounded matrices

class Rounding:
    """The activation roundings of one forward call. Inputs are told apart
    by identity (a tensor fed to several projections, as q/k/v's, is one
    rounding, as in the engine, which rounds the same fp32 row for each);
    a site is (input number, element)."""

    def __init__(self):
        self.flips = set()      # sites rounded the other way
        self.flip_all = False   # every near tie rounded the other way
        self.begin()

    def begin(self):
        self.inputs, self.sites, self.n = [], [], 0


class BF16Matrix:
    """A weight matrix of the BF16 mode: its values already rounded. The
    forwards use a weight only as `h @ W`, `h @ W.T` and, for a tied
    embedding, `W[ids]`; `h @ W` rounds h (the projection's input) first."""

    def __init__(self, t, rounding):
        self.t, self.rd = t, rounding

    @property
    def T(self):
        return BF16Matrix(self.t.T, self.rd)

    def __getitem__(self, idx):
        return self.t[idx]

    def __rmatmul__(self, h):
        rd = self.rd
        i = next((j for j, t in enumerate(rd.inputs) if t is h), None)
        hn = h.numpy()
        r, dist, alt = bf16_split(hn)
        rms = np.sqrt((hn * hn).mean(-1, keepdims=True))
        near = dist < NEAR_REL * np.maximum(np.abs(hn), rms)
        if i is None:
            i = len(rd.inputs)
            rd.inputs.append(h)
            rd.n += hn.size
            rd.sites += [(i, int(j)) for j in np.flatnonzero(near)]
        if rd.flip_all:
            r = np.where(near, alt, r)
        for (fi, j) in rd.flips:
            if fi == i:
                r.flat[j] = alt.flat[j]
        return torch.from_numpy(r) @ self.t


def head_name(cfg, W):
    mt = cfg["model_type"]
    if mt == "gpt2":
        return "wte.weight"                           # always tied
    if mt == "gpt_neox":
        return "embed_out.weight" if "embed_out.weight" in W else "gpt_neox.embed_in.weight"
    return "lm_head.weight" if "lm_head.weight" in W else "model.embed_tokens.weight"


def bf16_model(cfg, W, hdr, rounding):
    """W with every block matrix and the head as BF16Matrix. The weights
    are rounded from their stored values; each is checked against the bit
    statement and (F32/F16 sources) against torch's float32 -> bfloat16."""
    names = gq.block_tensors(cfg, W) + [head_name(cfg, W)]
    Wb = dict(W)
    for n in names:
        w = W[n].numpy()
        assert (np.abs(w[w != 0]) >= TINY).all(), n       # no subnormal weights to flush here
        r, _, _ = bf16_split(w)
        w32 = w.astype(np.float32)
        assert (w32.astype(np.float64) == w).all(), n      # stored values widen exactly
        assert (bf16_bits(w32) == r).all(), n
        tr = torch.from_numpy(w32).to(torch.bfloat16).to(F64).numpy()
        assert (tr == r).all(), n
        if hdr[n]["dtype"] == "BF16":
            assert (r == w).all(), n                        # BF16 weights are kept
        Wb[n] = BF16Matrix(torch.from_numpy(r), rounding)
    return Wb, names


# ---------------------------------------------------------------- per-model

def kl_rows(lp_p, lp_q):
    """KL(p || q) per row from log-probabilities over the full vocabulary."""
    return (lp_p.exp() * (lp_p - lp_q)).sum(-1)


def scored(runner, W, ids):
    """Log-softmax of the one call over ids[:-1] (the log-probs' call)."""
    return torch.log_softmax(runner.fwd(W, ids[:-1]), -1)


def near_tie_bounds(runner, Wb, rd, ids, lp):
    """Per scored position: the sum over the call's near ties of the change
    of the target's log-prob (flip_bound) and of the largest change of any
    log-prob (row_bound) when that one element rounds the other way, plus
    a second-order term: for each of the PAIR_TOP sites X that move the
    sequence most, the largest |d(X,Y) - d(X) - d(Y)| over the other sites
    Y (an engine that takes two flips is off by their joint change, which
    the sum of single changes need not bound: on pythia a site that moves
    nothing alone moved a log-prob by 1.9e-4 together with another)."""
    n = len(ids) - 1
    tgt = torch.tensor(ids[1:])
    bound, row = torch.zeros(n, dtype=F64), torch.zeros(n, dtype=F64)
    sites, count, ninputs = list(rd.sites), rd.n, len(rd.inputs)
    single = {}
    for site in sites:
        rd.flips = {site}
        rd.begin()
        lp2 = scored(runner, Wb, ids)
        assert rd.n == count and len(rd.inputs) == ninputs    # the same roundings, in the same order
        single[site] = lp2 - lp
        dl = single[site].abs()
        bound += dl[torch.arange(n), tgt]
        row += dl.max(-1).values
    top = sorted(sites, key=lambda x: -single[x].abs()[torch.arange(n), tgt].sum().item())[:PAIR_TOP]
    for x in top:
        pb, pr = torch.zeros(n, dtype=F64), torch.zeros(n, dtype=F64)
        for y in sites:
            if y == x:
                continue
            rd.flips = {x, y}
            rd.begin()
            lp2 = scored(runner, Wb, ids)
            assert rd.n == count and len(rd.inputs) == ninputs
            di = (lp2 - lp - single[x] - single[y]).abs()
            pb = torch.maximum(pb, di[torch.arange(n), tgt])
            pr = torch.maximum(pr, di.max(-1).values)
        bound += pb
        row += pr
    rd.flips = set()
    return bound, row


def up2(x):
    """x rounded up to two significant digits (a bound stays a bound)."""
    if x == 0:
        return 0.0
    e = math.floor(math.log10(x)) - 1
    r = float(f"{math.ceil(x / 10 ** e)}e{e}")
    return r if r >= x else float(f"{math.ceil(x / 10 ** e) + 1}e{e}")


def greedy_checked(lp, ids, row):
    """A greedy flag is checked where no near tie nor TOL can move the
    target across the top: the gap it hangs on exceeds 2 (row + TOL)."""
    out = []
    for t in range(len(ids) - 1):
        v = lp[t]
        top = torch.topk(v, 2)
        tgt = ids[t + 1]
        gap = (top.values[0] - top.values[1]) if top.indices[0].item() == tgt else (top.values[0] - v[tgt])
        out.append(int(gap.item() > 2 * (row[t].item() + TOL)))
    return out


def run_model(name):
    d = os.path.join(MODELS_DIR, name)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    W = gam.read_safetensors(os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        hdr = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    if name in gq.GM_MODELS:
        W["_prefix"] = ""
    runner = gq.Runner(name, cfg)
    seqs = [e["ids"] for e in exp["sequences"]]
    base = runner.sequences(W, seqs)
    worst = gq.check_base(name, runner, W, exp, base, runner.generate(W, seqs))
    g = torch.Generator().manual_seed(2026)
    extra = [torch.randint(0, cfg["vocab_size"], (3 + i % 8,), generator=g).tolist() for i in range(EXTRA)]
    gen_seqs = seqs                 # generate's prompt: the base fixture's
    seqs = seqs + extra
    base = base + runner.sequences(W, extra)

    rd = Rounding()
    Wb, names = bf16_model(cfg, W, hdr, rd)
    out, kls, nsites, nflagged, maxbound = [], [], 0, 0, 0.0
    for ids in seqs:
        e = runner.sequences(Wb, [ids])[0]
        del e["last_logits"]        # not checked: any near tie of that call could move them
        if len(ids) > 1:
            rd.begin()
            lp = scored(runner, Wb, ids)
            assert [lp[t, ids[t + 1]].item() for t in range(len(ids) - 1)] == e["logprobs"]
            kls += kl_rows(torch.log_softmax(runner.fwd(W, ids[:-1]), -1), lp).tolist()
            e["activation_roundings"] = rd.n
            e["near_ties"] = len(rd.sites)
            bound, row = near_tie_bounds(runner, Wb, rd, ids, lp)
            e["flip_bound"] = [up2(b) for b in bound.tolist()]
            e["greedy_checked"] = greedy_checked(lp, ids, row)
            nsites += len(rd.sites)
            nflagged += sum(1 for b in e["flip_bound"] if b > 0)
            maxbound = max([maxbound] + e["flip_bound"])
        out.append(e)
    change = max(abs(a - b) for e, eb in zip(out, base) for a, b in zip(e["logprobs"], eb["logprobs"]))
    if change <= CHANGE_MIN:
        sys.exit(f"{name}: BF16 compute moves log-probs by only {change}")
    gen = runner.generate(Wb, gen_seqs)
    rd.flip_all = True          # every near tie of every step the other way: the same tokens?
    gen_flipped = runner.generate(Wb, gen_seqs)["tokens"]
    rd.flip_all = False
    npos = sum(len(e["logprobs"]) for e in out)
    res = {"model": f"{name}_bf16", "base": f"../models/{name}",
           "reference": f"float64 PyTorch {torch.__version__}, numpy {np.__version__} BF16 rounding (gen_bf16.py; "
                        f"forward of {'gen_models.py' if name in gq.GM_MODELS else 'gen_arch_models.py'})",
           "compute": {"mode": "bf16", "storage": sorted({hdr[n]["dtype"] for n in names}),
                       "tensors": names,
                       "tied_head": names[-1] in ("wte.weight", "model.embed_tokens.weight")},
           "max_logprob_change": change,
           "mean_kl_exact_bf16": sum(kls) / len(kls),
           "max_kl_exact_bf16": max(kls),
           "scored_positions": len(kls),
           "tolerance": TOL,
           "near_tie_rel": NEAR_REL,
           "near_ties": nsites,
           "positions_with_flip_bound": nflagged,
           "max_flip_bound": maxbound,
           "min_greedy_flag_margin": gq.min_flag_margin(Wb, runner, seqs),
           "sequences": out}
    if gen["min_top2_margin"] < MARGIN_MIN or gen_flipped != gen["tokens"]:
        res["generate_dropped"] = (f"greedy top-2 margin {gen['min_top2_margin']:.3g} (minimum {MARGIN_MIN}), "
                                   f"tokens with the near ties flipped {gen_flipped}: no generate check")
    else:
        gen["base_tokens"] = exp["generate"]["tokens"]
        res["generate"] = gen
    print(f"{name}: max |d logprob| {change:.4f}, mean KL {res['mean_kl_exact_bf16']:.3e} "
          f"(max {res['max_kl_exact_bf16']:.3e}, {len(kls)} positions); near ties {nsites}, "
          f"{nflagged}/{npos} positions with a flip bound (max {maxbound:.1e}), "
          f"greedy flags checked {sum(sum(e.get('greedy_checked', [])) for e in out)}/{npos}, "
          f"greedy-flag margin {res['min_greedy_flag_margin']:.2e}, generate "
          + (f"{gen['tokens']} (exact {exp['generate']['tokens']}), margin {gen['min_top2_margin']:.4f}"
             if "generate" in res else "DROPPED " + res["generate_dropped"])
          + f"; exact reference vs expected.json {worst:.1e}")
    return res


def main():
    torch.set_num_threads(1)     # the same float64 sums on any machine
    self_test()
    os.makedirs(BOUT, exist_ok=True)
    only = set(sys.argv[1:])
    for name in RUNS:
        if only and name not in only:
            continue
        gq.write_json(os.path.join(BOUT, f"{name}.json"), run_model(name))
    total = sum(os.path.getsize(os.path.join(BOUT, f)) for f in os.listdir(BOUT))
    print(f"tests/data/bf16: {len(os.listdir(BOUT))} files, {total} bytes")


if __name__ == "__main__":
    main()
