#!/usr/bin/python3
"""Generate classification / correlation parity vectors with scikit-learn and scipy.

Usage (from the repository root):
    /usr/bin/python3 tests/parity/gen/gen_classification.py

Uses Debian's python3-sklearn (1.2.1) and python3-scipy (1.10.1); the script
refuses to run with other versions unless YARDSTICK_ALLOW_OTHER_VERSIONS=1.
Writes tests/parity/vectors/classification.jsonl.

All sklearn calls use the defaults (in particular zero_division="warn",
which returns 0.0 and emits UndefinedMetricWarning). NaN is written as null;
a metric that raises for an input is left out of `expected`.
"""

import json
import math
import os
import random
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "vectors")

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import sklearn  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn import metrics  # noqa: E402

EXPECTED_VERSIONS = {"sklearn": "1.2.1", "scipy": "1.10.1"}
if os.environ.get("YARDSTICK_ALLOW_OTHER_VERSIONS") != "1":
    if sklearn.__version__ != EXPECTED_VERSIONS["sklearn"] or scipy.__version__ != EXPECTED_VERSIONS["scipy"]:
        sys.exit(f"gen_classification.py: expected sklearn {EXPECTED_VERSIONS['sklearn']} and "
                 f"scipy {EXPECTED_VERSIONS['scipy']}, got {sklearn.__version__} / {scipy.__version__} "
                 "(set YARDSTICK_ALLOW_OTHER_VERSIONS=1 to override)")


def clean(x):
    x = float(x)
    return None if math.isnan(x) else x


def try_metric(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return True, clean(fn())
        except (ValueError, TypeError):
            return False, None


def classification_expected(preds, refs, binary):
    exp = {}

    def put(key, fn):
        ok, v = try_metric(fn)
        if ok:
            exp[key] = v

    put("accuracy", lambda: metrics.accuracy_score(refs, preds))
    if binary:
        put("precision_binary", lambda: metrics.precision_score(refs, preds))
        put("recall_binary", lambda: metrics.recall_score(refs, preds))
        put("f1_binary", lambda: metrics.f1_score(refs, preds))
    for avg in ("macro", "micro", "weighted"):
        put(f"precision_{avg}", lambda: metrics.precision_score(refs, preds, average=avg))
        put(f"recall_{avg}", lambda: metrics.recall_score(refs, preds, average=avg))
        put(f"f1_{avg}", lambda: metrics.f1_score(refs, preds, average=avg))
    put("matthews_correlation", lambda: metrics.matthews_corrcoef(refs, preds))
    return exp


def correlation_expected(preds, refs):
    exp = {}
    for key, fn in (("pearsonr", stats.pearsonr), ("spearmanr", stats.spearmanr)):
        ok, v = try_metric(lambda: fn(refs, preds)[0])
        if ok:
            exp[key] = v
    return exp


def main():
    rng = random.Random(20240605)
    out = []

    def add_cls(name, preds, refs, binary):
        assert len(preds) == len(refs)
        out.append({"name": name, "predictions": list(preds), "references": list(refs),
                    "expected": classification_expected(preds, refs, binary)})

    def add_reg(name, preds, refs):
        assert len(preds) == len(refs)
        out.append({"name": name, "predictions": [float(x) for x in preds],
                    "references": [float(x) for x in refs],
                    "expected": correlation_expected(preds, refs)})

    # ---- binary, hand-written edge cases
    B = [
        ("bin_perfect", [0, 1, 1, 0], [0, 1, 1, 0]),
        ("bin_all_wrong", [1, 0, 0, 1], [0, 1, 1, 0]),
        ("bin_all_pred_0", [0, 0, 0, 0, 0], [0, 1, 1, 0, 1]),
        ("bin_all_pred_1", [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]),
        ("bin_all_ref_0", [0, 1, 0, 1], [0, 0, 0, 0]),
        ("bin_all_ref_1", [0, 1, 0, 1], [1, 1, 1, 1]),
        ("bin_all_zero_both", [0, 0, 0], [0, 0, 0]),
        ("bin_all_one_both", [1, 1, 1], [1, 1, 1]),
        ("bin_single_0_0", [0], [0]),
        ("bin_single_1_1", [1], [1]),
        ("bin_single_0_1", [0], [1]),
        ("bin_single_1_0", [1], [0]),
        ("bin_two", [0, 1], [1, 1]),
        ("bin_no_tp", [1, 0, 0, 0], [0, 1, 0, 0]),
        ("bin_only_fp", [1, 1, 0], [0, 0, 0]),
        ("bin_only_fn", [0, 0, 0], [1, 1, 0]),
    ]
    for name, p, r in B:
        add_cls(name, p, r, True)
    for i in range(60):
        n = rng.choice([2, 3, 5, 8, 10, 20, 50, 100, 257, 1000])
        bias = rng.random()
        acc = rng.random()
        refs = [1 if rng.random() < bias else 0 for _ in range(n)]
        preds = [r if rng.random() < acc else 1 - r for r in refs]
        add_cls(f"bin_rand_{i}", preds, refs, True)

    # ---- multiclass
    M = [
        ("mc_perfect", [0, 1, 2, 2, 1, 0], [0, 1, 2, 2, 1, 0]),
        ("mc_class_never_predicted", [0, 0, 1, 1, 0, 1], [0, 1, 2, 1, 2, 1]),
        ("mc_class_only_in_preds", [0, 3, 1, 3], [0, 1, 1, 2]),
        ("mc_all_same_pred", [2, 2, 2, 2, 2], [0, 1, 2, 3, 4]),
        ("mc_all_same_ref", [0, 1, 2, 3], [1, 1, 1, 1]),
        ("mc_all_same_both", [3, 3, 3], [3, 3, 3]),
        ("mc_gap_labels", [0, 5, 5, 9], [0, 5, 9, 9]),
        ("mc_single", [2], [2]),
        ("mc_single_wrong", [2], [0]),
        ("mc_three_labels_two_present", [0, 2, 0, 2], [2, 0, 2, 0]),
        ("mc_one_label_missing_in_refs", [0, 1, 2, 0, 1, 2], [0, 1, 1, 0, 1, 0]),
    ]
    for name, p, r in M:
        add_cls(name, p, r, False)
    for i in range(60):
        k = rng.choice([3, 3, 4, 5, 7, 10])
        n = rng.choice([3, 5, 10, 20, 50, 100, 333, 1000])
        weights = [rng.random() ** 2 for _ in range(k)]
        acc = rng.random()
        refs = rng.choices(range(k), weights=weights, k=n)
        preds = [r if rng.random() < acc else rng.randrange(k) for r in refs]
        if rng.random() < 0.2:  # drop a class from predictions
            drop = rng.randrange(k)
            preds = [(p + 1) % k if p == drop else p for p in preds]
        add_cls(f"mc_rand_{i}_k{k}", preds, refs, False)

    # ---- regression / correlation
    R = [
        ("reg_perfect", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]),
        ("reg_anti", [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]),
        ("reg_two_points", [0.5, 1.5], [2.0, 1.0]),
        ("reg_two_points_pos", [0.0, 1.0], [3.0, 5.0]),
        ("reg_constant_pred", [2.5, 2.5, 2.5, 2.5], [1.0, 2.0, 3.0, 4.0]),
        ("reg_constant_ref", [1.0, 2.0, 3.0], [5.0, 5.0, 5.0]),
        ("reg_constant_both", [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]),
        ("reg_two_constant", [1.0, 1.0], [0.0, 1.0]),
        ("reg_single", [1.0], [2.0]),
        ("reg_ties", [1.0, 2.0, 2.0, 3.0, 3.0, 3.0], [1.0, 1.0, 2.0, 2.0, 3.0, 4.0]),
        ("reg_all_ties_but_one", [0.0, 0.0, 0.0, 1.0], [1.0, 2.0, 3.0, 4.0]),
        ("reg_monotone_nonlinear", [1.0, 4.0, 9.0, 16.0, 25.0], [1.0, 2.0, 3.0, 4.0, 5.0]),
        ("reg_large_offset", [1e9 + 1, 1e9 + 2, 1e9 + 4], [1.0, 2.0, 3.0]),
        ("reg_tiny_values", [1e-12, 2e-12, 3.5e-12], [3.0, 1.0, 2.0]),
        ("reg_negative", [-1.5, -0.5, 0.0, 2.0], [-3.0, 0.0, 1.0, 1.0]),
        ("reg_stsb_like", [4.8, 0.2, 3.1, 2.2, 5.0, 1.0], [5.0, 0.0, 3.2, 2.0, 4.6, 1.4]),
    ]
    for name, p, r in R:
        add_reg(name, p, r)
    for i in range(60):
        n = rng.choice([3, 4, 5, 10, 20, 50, 100, 500, 1500])
        refs = [round(rng.uniform(0, 5), rng.choice([0, 1, 2, 6])) for _ in range(n)]
        noise = rng.random() * 3
        preds = [round(r + rng.gauss(0, noise), rng.choice([1, 3, 8])) for r in refs]
        if rng.random() < 0.2:
            preds = [-p for p in preds]
        add_reg(f"reg_rand_{i}", preds, refs)
    # integer labels scored with correlation (e.g. ordinal labels)
    for i in range(10):
        n = rng.choice([5, 10, 30])
        refs = [rng.randrange(3) for _ in range(n)]
        preds = [r if rng.random() < 0.6 else rng.randrange(3) for r in refs]
        add_reg(f"reg_int_labels_{i}", preds, refs)

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "classification.jsonl"), "w", encoding="utf-8") as f:
        for c in out:
            f.write(json.dumps(c, ensure_ascii=False, allow_nan=False) + "\n")
    print(f"classification.jsonl: {len(out)} cases")


if __name__ == "__main__":
    main()
