#!/usr/bin/python3
"""Test files for engine/gguf.{h,c} and gguf_quant.c (tests/unit/test_gguf.c).

    PYTHONPATH=$LLAMA_CPP_DIR/gguf-py /usr/bin/python3 tests/parity/gen/gen_gguf.py

writes into tests/data/gguf/:

  container.gguf + container.json
      A GGUF v3 file from this script's own small writer (below), holding a
      key of every value type, arrays of every element type (empty ones
      too), string arrays, arrays nested two deep, general.alignment = 64,
      and tensors of several types and ranks; the JSON lists what the C
      reader must find (keys with their values, tensors with type, shape
      and offset). gguf-py's GGUFReader re-reads the file as an independent
      check of the writer.

  dequant.gguf
      For every type the engine dequantizes (F16, BF16, Q8_0, Q4_0, Q4_1,
      Q5_0, Q5_1, Q4_K, Q5_K, Q6_K): a tensor "<TYPE>" of rows of blocks,
      and "<TYPE>.expected", F32, the same values dequantized by gguf-py's
      numpy code (gguf/quants.py, llama.cpp's Python reference). Rows come
      from two sources: random normal data quantized by gguf-py (where it
      has a quantizer), and random bytes with the half-precision scale
      fields replaced by random finite halves (so every code and bit
      pattern, negative scales and minima, and subnormal scales occur).
      F16/BF16 rows also hold zeros of both signs, subnormals and
      infinities. The C test compares bit for bit.

Only numpy, gguf-py (for reference values) and the standard library.
"""
import json
import os
import struct
import sys

import numpy as np

from gguf_py import load as _load_gguf  # noqa: E402

gguf = _load_gguf()
quants = gguf.quants

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "gguf")

# value type codes (GGUF spec)
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
       U64: "<Q", I64: "<q", F64: "<d"}


def pack_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def pack_val(t, v):
    """t: a type code, or ("arr", elem_type_spec) for arrays."""
    if isinstance(t, tuple):
        et = t[1]
        code = ARR if isinstance(et, tuple) else et
        return struct.pack("<IQ", code, len(v)) + b"".join(pack_val(et, x) for x in v)
    if t == STR:
        return pack_str(v)
    return struct.pack(FMT[t], v)


def type_code(t):
    return ARR if isinstance(t, tuple) else t


class Writer:
    """A GGUF v3 file: kvs [(key, type, value)], tensors [(name, ggml_type,
    shape innermost first, raw bytes)], aligned to `alignment`."""

    def __init__(self, alignment=32):
        self.kvs, self.tensors, self.alignment = [], [], alignment

    def kv(self, key, t, v):
        self.kvs.append((key, t, v))

    def tensor(self, name, ggml_type, shape, raw):
        self.tensors.append((name, ggml_type, list(shape), bytes(raw)))

    def bytes(self):
        out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kvs)))
        for key, t, v in self.kvs:
            out += pack_str(key) + struct.pack("<I", type_code(t)) + pack_val(t, v)
        offsets, off = [], 0
        for name, gt, shape, raw in self.tensors:
            offsets.append(off)
            off += len(raw)
            off += (-off) % self.alignment
        for (name, gt, shape, raw), o in zip(self.tensors, offsets):
            out += pack_str(name) + struct.pack("<I", len(shape))
            out += b"".join(struct.pack("<Q", d) for d in shape) + struct.pack("<IQ", gt, o)
        out += b"\0" * ((-len(out)) % self.alignment)
        data_start = len(out)
        for (name, gt, shape, raw), o in zip(self.tensors, offsets):
            out += b"\0" * (data_start + o - len(out)) + raw
        return bytes(out), data_start, offsets


def jsonable(t, v):
    if isinstance(t, tuple):
        return [jsonable(t[1], x) for x in v]
    if t in (F32, F64):
        # the value as the reader widens it to a double, bit for bit
        d = float(np.float32(v)) if t == F32 else float(v)
        return "%016x" % struct.unpack("<Q", struct.pack("<d", d))[0]
    if t == BOOL:
        return bool(v)
    if t == STR:
        return v
    return str(v)  # integers as decimal strings: u64/i64 do not fit a JSON double


def type_json(t):
    return ["array", type_json(t[1])] if isinstance(t, tuple) else t


def container(rng):
    w = Writer(alignment=64)
    w.kv("general.architecture", STR, "llama")
    w.kv("general.alignment", U32, 64)
    w.kv("t.u8", U8, 250)
    w.kv("t.i8", I8, -100)
    w.kv("t.u16", U16, 65000)
    w.kv("t.i16", I16, -32000)
    w.kv("t.u32", U32, 4000000000)
    w.kv("t.i32", I32, -2000000000)
    w.kv("t.f32", F32, float(np.float32(0.1)))
    w.kv("t.bool", BOOL, True)
    w.kv("t.bool0", BOOL, False)
    w.kv("t.str", STR, "héllo wörld \u2603")
    w.kv("t.str_empty", STR, "")
    w.kv("t.u64", U64, 2 ** 63 + 5)
    w.kv("t.i64", I64, -(2 ** 62) - 3)
    w.kv("t.f64", F64, 1.0 / 3.0)
    for t, vals in [(U8, [0, 1, 255]), (I8, [-128, 0, 127]), (U16, [1, 65535]), (I16, [-5, 5]),
                    (U32, [7, 4294967295]), (I32, [-7, 2147483647]), (F32, [1.5, -2.25, 1e-30]),
                    (BOOL, [True, False, True]), (U64, [2 ** 64 - 1, 0]), (I64, [-(2 ** 63), 2 ** 63 - 1]),
                    (F64, [0.1, -1e300])]:
        w.kv("arr.%d" % t, ("arr", t), vals)
    w.kv("arr.empty", ("arr", U32), [])
    w.kv("arr.str", ("arr", STR), ["a", "", "\u00ff\u4e2d", "tab\there"])
    w.kv("arr.nested", ("arr", ("arr", I32)), [[1, 2, 3], [], [-4]])
    w.kv("arr.nested_str", ("arr", ("arr", STR)), [["x", "yy"], ["zzz"]])
    w.kv("arr.nested2", ("arr", ("arr", ("arr", U8))), [[[1], [2, 3]], [[]]])

    tens = []
    a = rng.standard_normal((3, 5)).astype(np.float32)
    tens.append(("w.f32", 0, [5, 3], a.tobytes()))
    b = rng.standard_normal(7).astype(np.float16)
    tens.append(("w.f16", 1, [7], b.tobytes()))
    c = quants.quantize(rng.standard_normal((2, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    tens.append(("w.q8_0", 8, [64, 2], c.tobytes()))
    d = rng.standard_normal((2, 1, 2, 3)).astype(np.float32)
    tens.append(("w.4d", 0, [3, 2, 1, 2], d.tobytes()))
    for t in tens:
        w.tensor(*t)
    raw, data_start, offsets = w.bytes()
    with open(os.path.join(OUT, "container.gguf"), "wb") as f:
        f.write(raw)

    # an independent re-read of what the writer wrote
    r = gguf.GGUFReader(os.path.join(OUT, "container.gguf"))
    assert {t.name for t in r.tensors} == {t[0] for t in tens}
    assert r.data_offset == data_start, (r.data_offset, data_start)
    for t in r.tensors:
        assert list(map(int, t.shape)) == [x[2] for x in tens if x[0] == t.name][0]
    assert int(r.fields["t.u32"].parts[-1][0]) == 4000000000

    exp = {
        "version": 3, "alignment": 64, "data_offset": data_start, "size": len(raw),
        "kvs": [{"key": k, "type": type_json(t), "value": jsonable(t, v)} for k, t, v in w.kvs],
        "tensors": [{"name": n, "type": gt, "shape": s, "offset": o, "nbytes": len(rb),
                     "first_f32": (struct.unpack("<f", rb[:4])[0] if gt == 0 else None)}
                    for (n, gt, s, rb), o in zip(tens, offsets)],
    }
    with open(os.path.join(OUT, "container.json"), "w") as f:
        json.dump(exp, f, indent=1)
        f.write("\n")


def rand_half(rng, n):
    """Finite random halves of both signs, normal and subnormal."""
    e = rng.integers(-20, 2, n).astype(np.float64)
    v = rng.uniform(0.5, 1.0, n) * np.exp2(e) * rng.choice([-1.0, 1.0], n)
    return v.astype(np.float16)


def random_blocks(rng, qt, nblocks):
    """Random block bytes with the half fields set to random finite halves."""
    bs, tb = gguf.GGML_QUANT_SIZES[qt]
    raw = rng.integers(0, 256, (nblocks, tb), dtype=np.uint8)
    T = gguf.GGMLQuantizationType
    half_at = {T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
               T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qt]
    for off in half_at:
        raw[:, off:off + 2] = rand_half(rng, nblocks).view(np.uint8).reshape(nblocks, 2)
    return raw


def dequant(rng):
    T = gguf.GGMLQuantizationType
    w = Writer()
    ncols = 512
    # F16 / BF16: special values, then random ones
    special = np.array([0.0, -0.0, np.inf, -np.inf, 6.1e-5, -6.0e-8, 65504, 1.0], np.float32)
    for qt, name in [(T.F16, "F16"), (T.BF16, "BF16")]:
        vals = np.concatenate([special, rng.standard_normal(ncols * 2 - len(special)).astype(np.float32) *
                               np.exp2(rng.integers(-30, 10, ncols * 2 - len(special)))]).astype(np.float32)
        if qt == T.F16:
            raw = vals.astype(np.float16).view(np.uint8)
        else:
            raw = quants.quantize(vals, T.BF16)
        exp = quants.dequantize(raw, qt) if qt == T.BF16 else raw.view(np.float16).astype(np.float32)
        w.tensor(name, int(qt), [ncols, 2], raw.tobytes())
        w.tensor(name + ".expected", 0, [ncols, 2], exp.astype(np.float32).tobytes())
    for qt in [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q4_K, T.Q5_K, T.Q6_K]:
        bs, tb = gguf.GGML_QUANT_SIZES[qt]
        rows = []
        if qt in (T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
            data = rng.standard_normal((2, ncols)).astype(np.float32) * 0.05
            rows.append(quants.quantize(data, qt).reshape(2, -1))
        rows.append(random_blocks(rng, qt, 2 * ncols // bs).reshape(2, -1))
        raw = np.concatenate(rows, axis=0)
        nrows = raw.shape[0]
        exp = quants.dequantize(raw, qt).astype(np.float32)
        assert exp.shape == (nrows, ncols), exp.shape
        assert np.isfinite(exp).all()
        w.tensor(qt.name, int(qt), [ncols, nrows], raw.tobytes())
        w.tensor(qt.name + ".expected", 0, [ncols, nrows], exp.tobytes())
    raw, _, _ = w.bytes()
    with open(os.path.join(OUT, "dequant.gguf"), "wb") as f:
        f.write(raw)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261207)
    container(rng)
    dequant(rng)


if __name__ == "__main__":
    main()
