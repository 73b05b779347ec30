#!/usr/bin/python3
"""Float64 references of round-to-nearest (RTN) weight quantization: the
quantization function itself on small awkward matrices (unit.json) and whole
tiny models whose block matrices are replaced by their dequantized values
(<model>_<scheme>.json). See README_quant.md, which states the function.

This is yardstick's own quantization scheme (issue 12), not a re-statement
of an HF quantizer: it is written from the function's specification only.
The quantizer runs in numpy float32, where the specification says fp32, and
every fp32 step is re-checked against exact rational arithmetic (Fraction,
rounded to fp32 by hand), so a numpy shortcut cannot hide in the numbers.
The forward passes are gen_models.py's and gen_arch_models.py's, imported
and unchanged; the base fixtures are read, never rewritten.

Run with Debian's interpreter:  /usr/bin/python3 tests/parity/gen/gen_quant.py
Writes tests/data/quant/{unit.json, <model>_<scheme>.json}. Deterministic.
"""
import json
import math
import os
import sys
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_models as gm  # noqa: E402
import gen_arch_models as gam  # noqa: E402

F64 = torch.float64
F32 = np.float32
QOUT = os.path.join(gm.ROOT, "tests", "data", "quant")
MODELS_DIR = gm.OUT

CHANGE_MIN = 1e-3     # an int4 file whose log-probs move less could pass with quantization skipped
MARGIN_MIN = gam.MARGIN_MIN
SELF_CHECK_TOL = 1e-9  # unquantized forward here vs the committed expected.json

# scheme file name -> (kind, group size); group size None: one scale per row
SCHEMES = {
    "int8": ("int8", None),
    "int4_g128": ("int4", 128),
    "int4_g32": ("int4", 32),
    "int4sym_g32": ("int4-sym", 32),
}
# schemes that also quantize the LM head (--quantize-head): name -> (blocks'
# scheme, head's kind); the head's int4 group size is the blocks' G. A tied
# model keeps its input embedding as stored: only the output matrix changes.
HEAD_SCHEMES = {
    "int8_head8": ("int8", "int8"),
    "int4_g32_head8": ("int4_g32", "int8"),
    "int4sym_g32_headsym": ("int4sym_g32", "int4-sym"),
}

# ---------------------------------------------------------------- exact fp32 arithmetic
# Independent of numpy: a rational rounded to the nearest float32, ties to
# even, subnormals included. Used to re-check every fp32 step below.

F32_MAX = Fraction(2) ** 127 * (2 - Fraction(1, 2 ** 23))


def round_even(x):
    """Nearest integer to the rational x, ties to even."""
    n = math.floor(x)
    r = x - n
    if r > Fraction(1, 2) or (r == Fraction(1, 2) and n % 2):
        n += 1
    return n


def f32(x):
    """The float32 nearest to the rational x (ties to even), as a Fraction."""
    if x == 0:
        return Fraction(0)
    sign, a = (-1, -x) if x < 0 else (1, x)
    e = a.numerator.bit_length() - a.denominator.bit_length()   # 2^e <= a < 2^(e+2)
    if Fraction(2) ** e > a:
        e -= 1
    if Fraction(2) ** (e + 1) <= a:
        e += 1
    e = max(e, -126)                      # below 2^-126 the quantum stays 2^-149
    quantum = Fraction(2) ** (e - 23)
    r = round_even(a / quantum) * quantum
    if r > F32_MAX:
        raise OverflowError(x)
    return sign * r


def fr(v):
    return Fraction(float(v))


# ---------------------------------------------------------------- the quantizer (numpy fp32)

def _div(a, b):
    """fp32 a / b where b != 0 (0 elsewhere; those entries are never used)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(a, b, dtype=F32)
    assert out.dtype == F32
    return np.where(b != 0, out, F32(0))


def quantize(w, kind, G):
    """w: float32 [out, in]. Returns (q int64 [out, in], s float32
    [out] or [out, groups], z int64 like s or None, dequant float64)."""
    assert w.dtype == F32 and w.ndim == 2
    rows, cols = w.shape
    if kind == "int8":
        a = np.abs(w).max(axis=1)
        s = (a / F32(127)).astype(F32)
        assert (a / F32(127)).dtype == F32
        sc = s[:, None]
        q = np.where(sc != 0, np.clip(np.rint(_div(w, sc)), -127, 127), 0).astype(np.int64)
        return q, s, None, q.astype(np.float64) * s.astype(np.float64)[:, None]
    ng = (cols + G - 1) // G
    q = np.zeros((rows, cols), np.int64)
    s = np.zeros((rows, ng), F32)
    z = np.zeros((rows, ng), np.int64) if kind == "int4" else None
    deq = np.zeros((rows, cols), np.float64)
    for g in range(ng):
        blk = w[:, g * G:min((g + 1) * G, cols)]
        if kind == "int4":
            lo = np.minimum(F32(0), blk.min(axis=1))
            hi = np.maximum(F32(0), blk.max(axis=1))
            span = hi - lo                       # fp32 subtraction, then fp32 division
            assert span.dtype == F32 and np.isfinite(span).all()
            sg = (span / F32(15)).astype(F32)
            sc = sg[:, None]
            zg = np.where(sg != 0, np.clip(np.rint(_div(-lo, sg)), 0, 15), 0).astype(np.int64)
            qg = np.where(sc != 0, np.clip(np.rint(_div(blk, sc)) + zg[:, None], 0, 15), 0).astype(np.int64)
            z[:, g] = zg
            deq[:, g * G:g * G + blk.shape[1]] = (qg - zg[:, None]).astype(np.float64) * sc.astype(np.float64)
        else:
            a = np.abs(blk).max(axis=1)
            sg = (a / F32(7)).astype(F32)
            sc = sg[:, None]
            qg = np.where(sc != 0, np.clip(np.rint(_div(blk, sc)), -8, 7), 0).astype(np.int64)
            deq[:, g * G:g * G + blk.shape[1]] = qg.astype(np.float64) * sc.astype(np.float64)
        s[:, g] = sg
        q[:, g * G:g * G + blk.shape[1]] = qg
    return q, s, z, deq


def quantize_exact(w, kind, G):
    """The same function in exact rational arithmetic with explicit fp32
    roundings: an independent statement to check quantize() against."""
    rows, cols = w.shape
    G = cols if G is None else G
    ng = (cols + G - 1) // G
    q = [[0] * cols for _ in range(rows)]
    s = [[None] * ng for _ in range(rows)]
    z = [[0] * ng for _ in range(rows)]
    for j in range(rows):
        for g in range(ng):
            ks = range(g * G, min((g + 1) * G, cols))
            vals = [fr(w[j, k]) for k in ks]
            if kind == "int4":
                lo, hi = min([Fraction(0)] + vals), max([Fraction(0)] + vals)
                sg = f32(f32(hi - lo) / 15)
                zg = 0 if sg == 0 else min(15, max(0, round_even(f32(-lo / sg))))
                for k, v in zip(ks, vals):
                    q[j][k] = 0 if sg == 0 else min(15, max(0, round_even(f32(v / sg)) + zg))
                z[j][g] = zg
            else:
                a = max(abs(v) for v in vals)
                sg = f32(a / (127 if kind == "int8" else 7))
                lim = (-127, 127) if kind == "int8" else (-8, 7)
                for k, v in zip(ks, vals):
                    q[j][k] = 0 if sg == 0 else min(lim[1], max(lim[0], round_even(f32(v / sg))))
            s[j][g] = sg
    return q, s, z


def check_exact(w, kind, G, q, s, z):
    qe, se, ze = quantize_exact(w, kind, G)
    s2 = s[:, None] if s.ndim == 1 else s
    assert q.tolist() == qe, (kind, G, "q")
    assert [[fr(v) for v in row] for row in s2] == se, (kind, G, "s")
    if z is not None:
        assert z.tolist() == ze, (kind, G, "z")


# ---------------------------------------------------------------- unit matrices

def bf16(x):
    return torch.tensor(x, dtype=torch.float32).to(torch.bfloat16).to(torch.float32).numpy()


def f16(x):
    return np.asarray(x, dtype=F32).astype(np.float16).astype(F32)


def traps(s, lo_k, hi_k):
    """fp32 values w within 20 ulps of (k + 0.5) * s, k in [lo_k, hi_k), where
    (recip) rint(fp32(w / s)) != rint(fp32(w * fp32(1 / s))): a packer that
    multiplies by a reciprocal gets them wrong; (exact) rounding the exact
    quotient differs from rounding the fp32 quotient: one that divides in
    double gets them wrong (the fp32 quotient lands on or off k + 0.5 and
    the tie rule decides)."""
    s = F32(s)
    r = F32(F32(1) / s)
    recip, exact = [], []
    for k in range(lo_k, hi_k):
        base = F32(F32(k + 0.5) * s)
        for d in range(-20, 21):
            w = base
            for _ in range(abs(d)):
                w = np.nextafter(w, F32(np.inf) if d > 0 else F32(-np.inf), dtype=F32)
            qs = np.rint(F32(w / s))
            if qs != np.rint(F32(w * r)) and w not in recip:
                recip.append(F32(w))
            elif round_even(fr(w) / fr(s)) != int(qs) and w not in exact:
                exact.append(F32(w))
    return recip, exact


def trap_row(rng, scale_of, want, n):
    """Draw the group's range until its scale has `want` traps of each kind;
    returns (the range-defining values, n - len(them) values for the group,
    traps first, then random values inside the range)."""
    for _ in range(5000):
        ends, s, qlo, qhi = scale_of(rng)
        recip, exact = traps(s, qlo, qhi)
        if len(recip) >= want and len(exact) >= want:
            vals = recip[:want] + exact[:want]
            lo, hi = min(ends), max(ends)
            while len(vals) < n - len(ends):
                vals.append(F32(rng.uniform(float(lo), float(hi))))
            return list(ends), vals
    sys.exit("trap_row: no scale with enough traps")


def find_span_case(rng):
    """(lo, hi) where fp32(fp32(hi - lo) / 15) differs from the once-rounded
    fp32((hi - lo) / 15): the specification's s is the former (fp32
    subtraction, then fp32 division), as C's (hi - lo) / 15.0f computes."""
    while True:
        hi = F32(rng.uniform(0.5, 2.0))
        lo = F32(-rng.uniform(1e-4, 1e-2))
        two = F32(F32(hi - lo) / F32(15))
        once = f32((fr(hi) - fr(lo)) / 15)
        if fr(two) != once:
            return lo, hi


def unit_matrices():
    rng = np.random.default_rng(20240612)
    mats = []

    # 5 x 40: G=32 leaves a partial group of 8; G=128 one partial group
    m = np.zeros((5, 40), F32)
    m[1] = bf16(np.abs(rng.normal(0, 0.3, 40)) + 0.01)                   # one sign (+), BF16 values
    m[2] = -bf16(np.abs(rng.normal(0, 0.3, 40)) + 0.01)                  # one sign (-), BF16 values
    # ties for int4: every group of 32 and of 128 has lo -7.5, hi 7.5 -> s 1, -lo/s = 7.5 -> z 8
    # (ties to even), then k + 0.5 quotients round to even; 7.5 + 8 clamps to 15
    t = [-7.5, 7.5, 2.5, -2.5, 0.5, -0.5, 1.5, 3.5, 6.5, -6.5, 5.5, 4.5, -1.5, -3.5, -4.5, -5.5]
    m[3, :32] = (t * 2)[:32]
    m[3, 32:] = [-7.5, 7.5, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5]
    # huge and tiny magnitudes in one row; hi - lo stays finite for int4
    m[4] = rng.normal(0, 1e-30, 40).astype(F32)
    m[4, [0, 7, 33]] = [F32(1.7e38), F32(-1.1e38), F32(-3.0e37)]
    m[4, [5, 36]] = [F32(1e-3), F32(-6e-8)]
    mats.append(("mixed_5x40", m, [
        "row 0 all zeros: s = 0 (int4: z = 0) and q = 0 everywhere",
        "rows 1 and 2 of one sign, BF16 values: int4's lo (row 1) or hi (row 2) is the 0 the range must include, z = 0 or 15",
        "row 3: int4 s = 1 exactly, z = rint(7.5) = 8, quotients k + 0.5 round to even, 7.5 + 8 clamps to 15",
        "row 4: magnitudes up to 1.7e38 beside 1e-30 (rounds to 0)"]))

    # 3 x 70: G=32 gives groups of 32, 32, 6
    m = np.zeros((3, 70), F32)
    m[0] = rng.normal(0, 0.05, 70).astype(F32)
    m[1] = f16(rng.normal(0, 2.0, 70))                                   # F16 values
    m[1, 64:] = 0                                                        # int4 G=32: an all-zero last group
    m[2, 17] = F32(-0.3)                                                 # a single non-zero entry
    # int8 ties: row max 127 -> s = 1 exactly
    mats.append(("wide_3x70", m, [
        "row 0: plain random fp32 values",
        "row 1: F16 values, its last partial group (6 columns) all zero",
        "row 2: a single non-zero entry (int4: its group's s from one value and the 0; other groups s = 0)"]))

    # 4 x 48: ties for int8 and int4-sym; the int4 span's double rounding
    m = np.zeros((4, 48), F32)
    m[0, 0] = 127                                                        # int8: s = 1
    m[0, 1:] = [k + 0.5 for k in range(-24, 23)]
    m[1, :] = [7, -7, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 4.5, -4.5, 5.5, -5.5, 6.5, -6.5] * 3  # int4-sym: s = 1
    lo, hi = find_span_case(rng)
    m[2] = rng.uniform(float(lo), float(hi), 48).astype(F32)
    m[2, [3, 4, 40, 41]] = [lo, hi, hi, lo]                              # every group's span is hi - lo
    m[3] = rng.normal(0, 1, 48).astype(F32)
    m[3, 10] = F32(-12.5)                                                # int8 s = 12.5/127, inexact
    mats.append(("ties_4x48", m, [
        "row 0: int8 s = 1 exactly and quotients k + 0.5 (round half to even)",
        "row 1: int4-sym s = 1 exactly (every group's max |w| is 7) and quotients k + 0.5",
        "row 2: int4 span hi - lo rounds in fp32 before the division by 15, and that double rounding "
        "gives another s than rounding (hi - lo) / 15 once (s here is the double-rounded one)",
        "row 3: random values, one negative maximum magnitude"]))

    # 3 x 64: values where fp32 division, multiplication by a reciprocal and
    # exact division round to different integers
    def s8(rng):
        a = F32(rng.uniform(0.2, 2.0))
        return [a], F32(a / F32(127)), -120, 120

    def s4sym(rng):
        a = F32(rng.uniform(0.2, 2.0))
        return [a, -a], F32(a / F32(7)), -7, 6

    def s4(rng):
        lo, hi = F32(-rng.uniform(0.1, 1.0)), F32(rng.uniform(0.5, 3.0))
        s = F32(F32(hi - lo) / F32(15))
        return [lo, hi], s, int(math.floor(lo / s)) + 1, int(math.floor(hi / s)) - 1

    m = np.zeros((3, 64), F32)
    ends, vals = trap_row(rng, s8, 24, 64)
    m[0] = ends + vals
    for row, fn, kind in ((1, s4sym, "int4-sym"), (2, s4, "int4")):
        ends, vals = trap_row(rng, fn, 4, 32)
        m[row, :32] = ends + vals
        m[row, 32:] = ends + vals[::-1]          # the same range in both groups: G=128 has the same s
        s = quantize(m[row:row + 1], kind, 32)[1]
        assert s[0, 0] == s[0, 1] == quantize(m[row:row + 1], kind, 128)[1][0, 0]
    mats.append(("division_3x64", m, [
        "row 0 (int8), row 1 (int4-sym, both groups of 32 with max |w| the same), row 2 (int4, both groups "
        "with the same lo and hi): entries near k + 0.5 quotients where fp32 w / s, w * fp32(1 / s) and the "
        "exact quotient round to different integers; only the fp32 division is the specification "
        "(reciprocal_would_differ and double_division_would_differ count them)"]))

    # 3 x 40: subnormal scales
    m = np.zeros((3, 40), F32)
    tiny = F32(np.nextafter(F32(0), F32(1), dtype=F32))                  # 2^-149
    m[0, :] = rng.integers(-3, 4, 40).astype(F32) * tiny                 # 3/127, 3/7 and 6/15 ulps round to 0
    m[0, [3, 9]] = [3 * tiny, -3 * tiny]
    m[1, :] = rng.uniform(-1, 1, 40).astype(F32) * F32(2e-43)            # s subnormal, w / s beyond 127 -> clamp
    m[1, 5] = F32(2e-43)
    m[2, :] = rng.uniform(-1, 1, 40).astype(F32) * F32(1.5e-38)          # around the smallest normal
    mats.append(("subnormal_3x40", m, [
        "row 0: |w| <= 3 * 2^-149 (subnormal): every scheme's s underflows to 0, so q = 0 although w != 0",
        "row 1: |w| <= 2e-43: s is a subnormal (1 or a few ulps) and w / s exceeds the range: the clamp decides",
        "row 2: values around the smallest normal float32; s subnormal",
        "a reciprocal 1 / s overflows to inf for the smallest s: reciprocal_would_differ counts those too"]))
    return mats


def dump_unit():
    out = {"description": "RTN weight quantization of small float32 matrices [out, in] (rows = output "
                          "channels); README_quant.md states the function. Every w, s and dequant value is "
                          "exactly the number printed (w and s are float32 values; dequant = (q - z) * s, "
                          "exact in float64). Checked against exact rational arithmetic with hand-rounded fp32.",
           "reference": f"gen_quant.py, numpy {np.__version__} float32",
           "schemes": {name: {"kind": k, "group_size": G} for name, (k, G) in SCHEMES.items()},
           "matrices": []}
    for name, w, notes in unit_matrices():
        assert w.dtype == F32 and np.isfinite(w).all()
        e = {"name": name, "rows": w.shape[0], "cols": w.shape[1], "notes": notes,
             "w": [[float(v) for v in row] for row in w]}
        for sname, (kind, G) in SCHEMES.items():
            q, s, z, deq = quantize(w, kind, G)
            check_exact(w, kind, G, q, s, z)
            r = {"s": [float(v) for v in s] if s.ndim == 1 else [[float(v) for v in row] for row in s]}
            if z is not None:
                r["z"] = z.tolist()
            r["q"] = q.tolist()
            r["dequant"] = deq.tolist()
            # how many q a reciprocal-multiplying packer would get wrong
            s2 = (s[:, None] if s.ndim == 1 else np.repeat(s, G, axis=1)[:, :w.shape[1]])
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                rec = np.where(s2 != 0, F32(1) / s2, F32(0)).astype(F32)
                dq = np.rint(_div(w, s2)) != np.rint((w * rec).astype(F32))
            r["reciprocal_would_differ"] = int((dq & (s2 != 0)).sum())
            # and one that divides in double precision
            with np.errstate(divide="ignore", invalid="ignore"):
                dd = np.rint(_div(w, s2)) != np.rint(w.astype(np.float64) / s2.astype(np.float64))
            r["double_division_would_differ"] = int((dd & (s2 != 0)).sum())
            e[sname] = r
        if name == "ties_4x48":   # the double-rounding row must really tell the two readings apart
            for sname in ("int4_g32", "int4_g128"):
                for g, sg in enumerate(e[sname]["s"][2]):
                    G = SCHEMES[sname][1]
                    blk = w[2, g * G:(g + 1) * G]
                    lo, hi = min(0, blk.min()), max(0, blk.max())
                    assert fr(sg) != f32((fr(hi) - fr(lo)) / 15), (sname, g)
        out["matrices"].append(e)
    return out


# ---------------------------------------------------------------- models

# The quantized modules of each architecture (HF names, relative to the
# layer); everything else 2-D must be one of EXCLUDED.
BLOCK_LINEARS = {
    "gpt2": ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"),            # Conv1D [in, out]
    "llama": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
    "phi3": ("self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"),
    "gpt_neox": ("attention.query_key_value", "attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"),
}
BLOCK_LINEARS["qwen2"] = BLOCK_LINEARS["gemma2"] = BLOCK_LINEARS["llama"]
EXCLUDED = {"wte.weight", "wpe.weight", "model.embed_tokens.weight", "lm_head.weight",
            "gpt_neox.embed_in.weight", "embed_out.weight"}

# fixture, schemes
RUNS = [
    ("llama", ("int8", "int4_g128", "int4_g32", "int4sym_g32", "int8_head8", "int4_g32_head8")),
    ("gpt2", ("int8", "int4_g128", "int4_g32", "int4sym_g32", "int8_head8", "int4_g32_head8", "int4sym_g32_headsym")),
    ("qwen2", ("int8", "int4_g128", "int4sym_g32")),
    ("pythia", ("int8", "int4_g128", "int4sym_g32", "int4_g32_head8")),
    ("gemma2", ("int8", "int4_g128", "int4sym_g32")),
    ("phi3", ("int8", "int4_g128", "int4sym_g32")),
]
GM_MODELS = ("llama", "gpt2", "qwen2")     # gen_models.py's fixtures; the others are gen_arch_models.py's


def block_tensors(cfg, W):
    mt = cfg["model_type"]
    L = cfg["n_layer"] if mt == "gpt2" else cfg["num_hidden_layers"]
    pre = {"gpt2": "h.", "gpt_neox": "gpt_neox.layers."}.get(mt, "model.layers.")
    names = [f"{pre}{l}.{sub}.weight" for l in range(L) for sub in BLOCK_LINEARS[mt]]
    for n in names:
        assert n in W, n
    for n, t in W.items():
        if not n.startswith("_") and t.dim() == 2 and n not in names and n not in EXCLUDED:
            sys.exit(f"{cfg['model_type']}: 2-D tensor {n} is neither quantized nor excluded")
    return names


HEADS = ("lm_head.weight", "embed_out.weight", "wte.weight", "model.embed_tokens.weight")


def quantize_head(W, kind, G):
    """The LM head ([vocab, hidden]: lm_head, embed_out, or the tied
    embedding) dequantized, float64, as W["_head"] (the forwards use it
    for the logits only)."""
    n = next(h for h in HEADS if h in W)
    w = W[n].numpy().astype(F32)
    assert (w.astype(np.float64) == W[n].numpy()).all(), n
    q, s, z, deq = quantize(w, kind, G)
    check_exact(w, kind, G, q, s, z)
    Wq = dict(W)
    Wq["_head"] = torch.from_numpy(np.ascontiguousarray(deq))
    return Wq, n


def quantize_model(cfg, W, kind, G, exact=True):
    """W with every block matrix replaced by its dequantized values (float64)."""
    Wq = dict(W)
    conv = cfg["model_type"] == "gpt2"
    for n in block_tensors(cfg, W):
        w64 = W[n].T if conv else W[n]              # [out, in]
        w = w64.numpy().astype(F32)
        assert (w.astype(np.float64) == w64.numpy()).all(), n   # stored values widen exactly
        q, s, z, deq = quantize(w, kind, G)
        if exact:
            check_exact(w, kind, G, q, s, z)
        d = torch.from_numpy(np.ascontiguousarray(deq))
        Wq[n] = d.T.contiguous() if conv else d
    return Wq


class Runner:
    """Scoring and generation with the base fixture's semantics."""

    def __init__(self, name, cfg):
        self.name, self.cfg = name, cfg
        self.gm = name in GM_MODELS
        if not self.gm:
            self.s = gam.build_spec(cfg)
            self.s["orig"] = cfg.get("original_max_position_embeddings")
            self.mode = dict((n, m) for n, _, _, m in gam.MODELS)[name]

    def fwd(self, W, ids):
        return gm.forward(self.cfg, W, ids) if self.gm else gam.forward(self.s, W, ids)

    def sequences(self, W, seqs):
        """One call over ids[:-1] for the log-probs (lm-evaluation-harness's
        request), the whole sequence for last_logits; with a call-length
        dependent RoPE also test_model.c's KV path."""
        out = []
        for ids in seqs:
            n = len(ids)
            lp = torch.log_softmax(self.fwd(W, ids[:-1] if n > 1 else ids), -1)
            e = {"ids": ids, "logprobs": [lp[t, ids[t + 1]].item() for t in range(n - 1)],
                 "greedy": [int(lp[t].argmax().item() == ids[t + 1]) for t in range(n - 1)],
                 "last_logits": self.fwd(W, ids)[-1].tolist()}
            if not self.gm and self.mode != "static":
                e["last_logits_kv_half"] = gam.kv_half_last(self.s, W, ids).tolist()
            out.append(e)
        return out

    def generate(self, W, seqs):
        if self.gm:
            prompt = seqs[3][:gm.GEN_PROMPT_LEN]
            toks, margin = list(prompt), float("inf")
            for _ in range(gm.GEN_NEW):
                last = self.fwd(W, toks)[-1]
                top = torch.topk(last, 2).values
                margin = min(margin, (top[0] - top[1]).item())
                toks.append(int(last.argmax().item()))
            return {"prompt": prompt, "max_new_tokens": gm.GEN_NEW, "tokens": toks[len(prompt):],
                    "min_top2_margin": margin, "semantics": "greedy, full recomputation per step"}
        if self.mode == "static":
            prompt = seqs[3][:5]
            toks, margin = gam.greedy(self.s, W, prompt, gam.GEN_NEW, "full")
            if gam.greedy(self.s, W, prompt, gam.GEN_NEW, "cached")[0] != toks:
                sys.exit(f"{self.name}: KV-cached and full generation differ for a static RoPE")
            sem = "greedy; static RoPE: KV-cached and full recomputation agree"
        elif self.mode == "longrope":
            prompt = seqs[5][:28]
            toks, margin = gam.greedy(self.s, W, prompt, gam.GEN_NEW, "phi3")
            full, m2 = gam.greedy(self.s, W, prompt, gam.GEN_NEW, "full")
            if full != toks:
                sys.exit(f"{self.name}: Phi-3 generation differs from full recomputation")
            margin = min(margin, m2)
            sem = ("HF Phi3ForCausalLM generate (as the base phi3 fixture): the KV cache is dropped when the "
                   "sequence first reaches original_max_position_embeddings + 1 tokens; equal to full "
                   "recomputation at every step")
        else:
            sys.exit(f"{self.name}: generation mode {self.mode} not handled")
        return {"prompt": prompt, "max_new_tokens": gam.GEN_NEW, "tokens": toks, "min_top2_margin": margin,
                "semantics": sem}


def check_base(name, runner, W, exp, seqs_out, gen):
    """The unquantized forward here must reproduce the committed fixture: a
    guard that the checkpoint was read and the forward called as its
    generator did."""
    worst = 0.0
    for a, b in zip(seqs_out, exp["sequences"]):
        assert a["ids"] == b["ids"]
        for key in ("logprobs", "last_logits", "last_logits_kv_half"):
            if key in b:
                worst = max([worst] + [abs(x - y) for x, y in zip(a[key], b[key])])
        if a["greedy"] != b["greedy"]:
            sys.exit(f"{name}: unquantized greedy flags differ from the fixture")
    if worst > SELF_CHECK_TOL or gen["tokens"] != exp["generate"]["tokens"] or \
            gen["prompt"] != exp["generate"]["prompt"]:
        sys.exit(f"{name}: unquantized reference differs from expected.json (max {worst})")
    return worst


def min_flag_margin(W, runner, seqs):
    """Smallest top-2 logit gap at positions whose greedy flag hangs on it
    (the target is first or second): where fp32 could flip a flag."""
    m = float("inf")
    for ids in seqs:
        if len(ids) < 2:
            continue
        lg = runner.fwd(W, ids[:-1])
        top = torch.topk(lg, 2, -1)
        for t in range(len(ids) - 1):
            if ids[t + 1] in top.indices[t].tolist():
                m = min(m, (top.values[t, 0] - top.values[t, 1]).item())
    return m


def run_model(name, schemes):
    d = os.path.join(MODELS_DIR, name)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    W = gam.read_safetensors(os.path.join(d, "model.safetensors"))      # float64 of the stored values
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        hdr = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    if name in GM_MODELS:
        W["_prefix"] = ""
    runner = Runner(name, cfg)
    seqs = [e["ids"] for e in exp["sequences"]]
    base = runner.sequences(W, seqs)
    worst = check_base(name, runner, W, exp, base, runner.generate(W, seqs))
    qnames = block_tensors(cfg, W)
    results = {}
    for sname in schemes:
        bs, hkind = HEAD_SCHEMES.get(sname, (sname, None))
        kind, G = SCHEMES[bs]
        Wq = quantize_model(cfg, W, kind, G)
        if hkind:
            Wq, hname = quantize_head(Wq, hkind, G if hkind != "int8" else None)
        out = runner.sequences(Wq, seqs)
        change = max(abs(a - b) for e, eb in zip(out, base) for a, b in zip(e["logprobs"], eb["logprobs"]))
        if kind != "int8" and change <= CHANGE_MIN:
            sys.exit(f"{name} {sname}: quantization moves log-probs by only {change}")
        gen = runner.generate(Wq, seqs)
        res = {"model": f"{name}_{sname}", "base": f"../models/{name}",
               "reference": f"float64 PyTorch {torch.__version__}, numpy {np.__version__} float32 quantizer "
                            f"(gen_quant.py; forward of {'gen_models.py' if name in GM_MODELS else 'gen_arch_models.py'})",
               "quantization": {"scheme": kind, "group_size": G,
                                "storage": sorted({hdr[n]["dtype"] for n in qnames}),
                                "tensors": qnames},
               "max_logprob_change": change,
               "min_greedy_flag_margin": min_flag_margin(Wq, runner, seqs),
               "sequences": out}
        if hkind:
            res["quantization"]["head"] = hkind
            res["quantization"]["head_tensor"] = hname
        base_tokens = exp["generate"]["tokens"]
        if gen["min_top2_margin"] < MARGIN_MIN:
            res["generate_dropped"] = (f"greedy top-2 margin {gen['min_top2_margin']:.3g} < {MARGIN_MIN}: "
                                       "fp32 could flip an argmax, so no generate check for this file")
        else:
            gen["base_tokens"] = base_tokens
            res["generate"] = gen
        if not runner.gm and runner.mode != "static":
            res["last_logits_kv_half_semantics"] = exp["last_logits_kv_half_semantics"]
        results[sname] = res
        print(f"{name} {sname}: max |d logprob| {change:.4f}, generate "
              + (f"{gen['tokens']} (base {base_tokens}), margin {gen['min_top2_margin']:.4f}"
                 if "generate" in res else "DROPPED " + res["generate_dropped"])
              + f", greedy-flag margin {res['min_greedy_flag_margin']:.2e}")
    print(f"{name}: unquantized reference vs expected.json max |diff| {worst:.1e}")
    return results


def write_json(path, obj, flat_lists=False):
    """indent=1 as the model fixtures; flat_lists puts each list of numbers
    on one line (unit.json: a matrix row per line)."""
    def enc(o, ind):
        pad = " " * ind
        if isinstance(o, dict):
            items = [f'{pad} {json.dumps(k)}: {enc(v, ind + 1).lstrip()}' for k, v in o.items()]
            return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, list) and o and not all(isinstance(v, (int, float)) for v in o):
            return pad + "[\n" + ",\n".join(enc(v, ind + 1) for v in o) + "\n" + pad + "]"
        return pad + json.dumps(o, separators=(", ", ": "))
    with open(path, "w") as f:
        f.write(enc(obj, 0) if flat_lists else json.dumps(obj, indent=1))
        f.write("\n")


def main():
    torch.set_num_threads(1)     # the same float64 sums on any machine
    os.makedirs(QOUT, exist_ok=True)
    write_json(os.path.join(QOUT, "unit.json"), dump_unit(), flat_lists=True)
    for name, schemes in RUNS:
        for sname, res in run_model(name, schemes).items():
            write_json(os.path.join(QOUT, f"{name}_{sname}.json"), res)
    total = sum(os.path.getsize(os.path.join(QOUT, f)) for f in os.listdir(QOUT))
    print(f"tests/data/quant: {len(os.listdir(QOUT))} files, {total} bytes")


if __name__ == "__main__":
    main()
