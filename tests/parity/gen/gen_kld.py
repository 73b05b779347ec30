#!/usr/bin/python3
"""KL-divergence vectors: a float64 restatement of the statistics llama.cpp's
`perplexity --kl-divergence` prints (tools/perplexity/perplexity.cpp,
ggml-org/llama.cpp at 050fc7f32de16858ac667d775b43a51ed8976e6f), computed
with torch in float64 from two sets of logits over a vocabulary.

Per position: log_softmax of both rows (torch, float64), KL(base || model)
as sum p_base * (log p_base - log p_model) over entries with p_base > 0,
nll = -log p_model(tok), nll_base = -log p_base(tok), p_diff =
p_model(tok) - p_base(tok), same_top = argmax(base) == argmax(model)
(torch.argmax: the first maximal index). Aggregates: llama.cpp's
mean_and_uncertainty (no uncertainty for N <= 10), covariance (0 for
N < 10), PPL, ln ratio, ratio and difference with their uncertainties,
RMS of p_diff, same-top share; median and percentiles with numpy's linear
interpolation (llama.cpp's: q = f (N - 1), linear between neighbours).
Where llama.cpp would take the root of a negative or divide by zero the
vectors hold yardstick's convention (0, and null for the correlation), see
metrics/kld.h.

Logits are float32 values on a 1/1024 grid so the file stays small and the
C test reads exactly the numbers used here.
Run from the repository root: /usr/bin/python3 tests/parity/gen/gen_kld.py"""
import json
import math

import numpy as np
import torch

KLD_Q = [0.999, 0.99, 0.95, 0.90, 0.10, 0.05, 0.01, 0.001]
DP_Q = [0.999, 0.99, 0.95, 0.90, 0.75, 0.25, 0.10, 0.05, 0.01, 0.001]


def grid(t):
    """float32 on a 1/1024 grid (exact in float32 and in JSON)."""
    return torch.round(t * 1024) / 1024


def mean_unc(x):
    n = len(x)
    f = float(np.sum(x)) / n
    v = float(np.sum(np.square(x))) / n - f * f
    return f, (math.sqrt(v / (n - 1)) if v > 0 and n > 10 else 0.0)


def cov(a, b):
    n = len(a)
    if n < 10:
        return 0.0
    return (float(np.sum(a * b)) / n - (float(np.sum(a)) / n) * (float(np.sum(b)) / n)) / (n - 1)


def root0(v):
    return math.sqrt(v) if v > 0 else 0.0


def summary(kld, nll, nll_b, pd, same):
    n = len(kld)
    lq, uq = mean_unc(nll)
    lb, ub = mean_unc(nll_b)
    c = cov(nll, nll_b)
    ppl_q, ppl_b = math.exp(lq), math.exp(lb)
    lr, lru = lq - lb, root0(uq * uq + ub * ub - 2 * c)
    s = {
        "count": n,
        "ppl_model": [ppl_q, ppl_q * uq],
        "ppl_base": [ppl_b, ppl_b * ub],
        "cor_ln_ppl": c / (uq * ub) if uq > 0 and ub > 0 else None,
        "ln_ppl_ratio": [lr, lru],
        "ppl_ratio": [math.exp(lr), math.exp(lr) * lru],
        "ppl_diff": [ppl_q - ppl_b, root0((ppl_q * uq) ** 2 + (ppl_b * ub) ** 2 - 2 * ppl_q * ppl_b * c)],
        "kld": list(mean_unc(kld)),
        "p_diff": list(mean_unc(pd)),
    }
    mse, mse_u = mean_unc(np.square(pd))
    rms = root0(mse)
    s["p_diff_rms"] = [rms, 0.5 / rms * mse_u if rms > 0 else 0.0]
    p = float(np.sum(same)) / n
    s["same_top"] = [p, root0(p * (1 - p) / (n - 1)) if n > 1 else 0.0]
    s["kld_max"], s["kld_min"], s["kld_median"] = float(np.max(kld)), float(np.min(kld)), float(np.median(kld))
    s["kld_q"] = [float(np.quantile(kld, f)) for f in KLD_Q]
    s["p_diff_max"], s["p_diff_min"], s["p_diff_median"] = float(np.max(pd)), float(np.min(pd)), float(np.median(pd))
    s["p_diff_q"] = [float(np.quantile(pd, f)) for f in DP_Q]
    s["max_abs_p_diff"] = float(np.max(np.abs(pd)))
    return s


def case(name, base, model, tok, with_logprobs):
    b64, m64 = base.double(), model.double()
    lb, lm = torch.log_softmax(b64, dim=-1), torch.log_softmax(m64, dim=-1)
    pb = torch.exp(lb)
    terms = torch.where(pb > 0, pb * (lb - lm), torch.zeros_like(pb))
    kld = terms.sum(dim=-1).numpy()
    idx = torch.arange(len(tok))
    t = torch.tensor(tok)
    nll = (-lm[idx, t]).numpy()
    nll_b = (-lb[idx, t]).numpy()
    pd = (torch.exp(lm[idx, t]) - torch.exp(lb[idx, t])).numpy()
    same = (torch.argmax(b64, dim=-1) == torch.argmax(m64, dim=-1)).numpy().astype(int)
    out = {
        "name": name,
        "vocab": base.shape[1],
        "tokens": [int(x) for x in tok],
        "base_logits": base.tolist(),
        "model_logits": model.tolist(),
        "kld": kld.tolist(),
        "nll": nll.tolist(),
        "nll_base": nll_b.tolist(),
        "p_diff": pd.tolist(),
        "same_top": same.tolist(),
        "summary": summary(kld, nll, nll_b, pd, same),
    }
    if with_logprobs:
        out["base_logprobs"] = lb.tolist()
        out["model_logprobs"] = lm.tolist()
    return out


def main():
    g = torch.Generator().manual_seed(12)
    cases = []

    def rnd(n, v, scale=3.0):
        return grid(torch.randn(n, v, generator=g) * scale)

    def toks(n, v):
        return torch.randint(0, v, (n,), generator=g).tolist()

    # few positions: no uncertainties (N <= 10), covariance only from N = 10
    for n, v in [(1, 5), (4, 5), (10, 9), (11, 9), (12, 7)]:
        b = rnd(n, v)
        cases.append(case(f"small_n{n}_v{v}", b, grid(b + torch.randn(n, v, generator=g)), toks(n, v), True))
    # a quantized-looking perturbation, enough positions for percentiles
    b = rnd(150, 300)
    cases.append(case("perturbed_n150_v300", b, grid(b + 0.3 * torch.randn(150, 300, generator=g)), toks(150, 300),
                      False))
    b = rnd(40, 50)
    cases.append(case("perturbed_n40_v50", b, grid(b + 0.05 * torch.randn(40, 50, generator=g)), toks(40, 50), True))
    # tokens drawn from the base (the observed token is usually likely)
    b = rnd(120, 64, 4.0)
    t = torch.multinomial(torch.softmax(b.double(), -1), 1, generator=g).squeeze(1).tolist()
    cases.append(case("sampled_n120_v64", b, grid(b + 0.5 * torch.randn(120, 64, generator=g)), t, False))
    # identical models: KLD 0, Δp 0, same top 100%
    b = rnd(30, 40)
    cases.append(case("identical_n30_v40", b, b.clone(), toks(30, 40), True))
    # huge logits: a naive softmax overflows; many base probabilities underflow to 0
    b = rnd(20, 30, 200.0)
    # (the observed tokens are the base's top ones, so the perplexities stay finite)
    cases.append(case("huge_n20_v30", b, grid(b + 20 * torch.randn(20, 30, generator=g)),
                      torch.argmax(b, dim=-1).tolist(), True))
    # ties for the top token: the first maximal index decides
    b = torch.randint(0, 3, (25, 12), generator=g).float()
    m = torch.randint(0, 3, (25, 12), generator=g).float()
    cases.append(case("ties_n25_v12", b, m, toks(25, 12), True))
    # unrelated models
    cases.append(case("unrelated_n60_v20", rnd(60, 20), rnd(60, 20), toks(60, 20), False))
    with open("tests/parity/vectors/kld.jsonl", "w") as f:
        for c in cases:
            f.write(json.dumps(c) + "\n")


if __name__ == "__main__":
    main()
