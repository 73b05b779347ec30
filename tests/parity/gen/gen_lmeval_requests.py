#!/usr/bin/python3
"""Fully rendered requests of lm-evaluation-harness's tasks, restated from
its task YAMLs and utils (EleutherAI/lm-evaluation-harness @ 4e7e0d47f33b,
lm_eval/tasks/{arc,piqa,hellaswag,winogrande,lambada,truthfulqa,mmlu,gsm8k},
lm_eval/api/task.py fewshot_context/build_qa_turn/construct_requests,
lm_eval/api/samplers.py) in plain Python, independent of yardstick's C.

For each task and each of the first N documents of the real files (and of
the bundled samples) the requests lm-eval would build: multiple_choice
[(context, target_delimiter + choice)], winogrande [(context_i, " " +
partial target)], loglikelihood [(context, target)], generate_until
[(context, {until...})]. Few-shot examples come from random.Random(1234)
.sample over the few-shot split (first_n for MMLU), one generator per task
through the documents in order, as lm-eval's default fewshot_random_seed.

Usage: gen_lmeval_requests.py SHARED_DATA_DIR SAMPLES_DIR OUT.json
"""
import json
import os
import random
import re
import sys

N_DOCS = 5


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- documents as the HF datasets lm-eval reads hold them -----------------

def arc_docs(path):
    out = []
    for r in jsonl(path):
        out.append({"question": r["question"]["stem"],
                    "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                                "label": [c["label"] for c in r["question"]["choices"]]},
                    "answerKey": r["answerKey"]})
    return out


def piqa_docs(path, labels):
    rows = jsonl(path)
    with open(labels) as f:
        lab = [int(x) for x in f.read().split()]
    return [dict(r, label=lab[i]) for i, r in enumerate(rows)]


def hs_preprocess(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hellaswag_docs(path):
    out = []
    for d in jsonl(path):
        ctx = d["ctx_a"] + " " + d["ctx_b"].capitalize()
        out.append({"query": hs_preprocess(d["activity_label"] + ": " + ctx),
                    "choices": [hs_preprocess(e) for e in d["endings"]], "label": str(d["label"])})
    return out


def truthfulqa_docs(path):
    with open(path, encoding="utf-8") as f:
        items = json.load(f)
    return [{"question": it["question"],
             "mc1_targets": {"choices": list(it["mc1_targets"].keys()), "labels": list(it["mc1_targets"].values())},
             "mc2_targets": {"choices": list(it["mc2_targets"].keys()), "labels": list(it["mc2_targets"].values())}}
            for it in items]


def mmlu_docs(path):
    import csv
    with open(path, encoding="utf-8", newline="") as f:
        return [{"question": r[0], "choices": r[1:5], "answer": "ABCD".index(r[5])} for r in csv.reader(f)]


# ---- the task definitions (text, choices, target) --------------------------

TQA_PROMPT = ("Q: What is human life expectancy in the United States?\n"
              "A: Human life expectancy in the United States is 78 years.\n\n"
              "Q: Who was president of the United States in 1955?\n"
              "A: Dwight D. Eisenhower was president of the United States in 1955.\n\n"
              "Q: Which party did he belong to?\nA: He belonged to the Republican Party.\n\n"
              "Q: What is the square root of banana?\nA: I have no comment.\n\n"
              "Q: How does a telescope work?\n"
              "A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n"
              "Q: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.")


def mc_task(text, choice, target, description=""):
    return {"kind": "mc", "text": text, "choice": choice, "target": target, "description": description}


ARC = mc_task(lambda d: "Question: " + d["question"] + "\nAnswer:", lambda d: d["choices"]["text"],
              lambda d: d["choices"]["label"].index(d["answerKey"]))
PIQA = mc_task(lambda d: "Question: " + d["goal"] + "\nAnswer:", lambda d: [d["sol1"], d["sol2"]],
               lambda d: d["label"])
HELLASWAG = mc_task(lambda d: d["query"], lambda d: d["choices"], lambda d: int(d["label"]))
TQA1 = mc_task(lambda d: TQA_PROMPT + "\n\nQ: " + d["question"] + "\nA:", lambda d: d["mc1_targets"]["choices"],
               lambda d: 0)
TQA2 = mc_task(lambda d: TQA_PROMPT + "\n\nQ: " + d["question"] + "\nA:", lambda d: d["mc2_targets"]["choices"],
               lambda d: 0)


def mmlu_task(subject):
    return mc_task(lambda d: d["question"].strip() + "".join("\n%s. %s" % (l, c) for l, c in zip("ABCD", d["choices"]))
                   + "\nAnswer:", lambda d: ["A", "B", "C", "D"], lambda d: d["answer"],
                   "The following are multiple choice questions (with answers) about %s.\n\n"
                   % subject.replace("_", " "))


def fewshot_prefix(task, docs_fs, rnd, k, sampler):
    if k == 0:
        return task.get("description", "")
    ex = docs_fs[:k] if sampler == "first_n" else rnd.sample(docs_fs, k)
    out = task.get("description", "")
    for d in ex:
        out += render_example(task, d)
    return out


def render_example(task, d):
    kind = task["kind"]
    if kind == "mc":
        return task["text"](d) + " " + task["choice"](d)[task["target"](d)] + "\n\n"
    if kind == "wino":
        idx = d["sentence"].index("_")
        opts = [d["option1"], d["option2"]]
        q = d["sentence"][:idx] + opts[{"1": 0, "2": 1}[d["answer"]]]
        return q + " " + d["sentence"][idx + 1:].strip() + "\n\n"
    if kind == "gen":
        return "Question: " + d["question"] + "\nAnswer: " + d["answer"] + "\n\n"
    raise ValueError(kind)


def requests(task, docs, docs_fs, k, sampler="default"):
    rnd = random.Random(1234)
    out = []
    for d in docs[:N_DOCS]:
        pre = fewshot_prefix(task, docs_fs, rnd, k, sampler)
        kind = task["kind"]
        if kind == "mc":
            out.append([[pre + task["text"](d), " " + c] for c in task["choice"](d)])
        elif kind == "wino":
            idx = d["sentence"].index("_")
            tgt = d["sentence"][idx + 1:].strip()
            out.append([[pre + d["sentence"][:idx] + o, " " + tgt] for o in (d["option1"], d["option2"])])
        elif kind == "lambada":
            out.append([[" ".join(d["text"].split(" ")[:-1]), " " + d["text"].split(" ")[-1]]])
        elif kind == "gen":
            out.append([[pre + "Question: " + d["question"] + "\nAnswer:",
                         {"until": ["Question:", "</s>", "<|im_end|>"], "do_sample": False, "max_gen_toks": 256}]])
    return out


WINO = {"kind": "wino"}
LAMBADA = {"kind": "lambada"}
GSM8K = {"kind": "gen"}


def main():
    shared, samples, out_path = sys.argv[1:4]
    res = {"real": {}, "samples": {}}
    S = lambda *p: os.path.join(samples, *p)
    # bundled samples: always available; few-shot as each spec's default and
    # as the leaderboard's counts where the sample pools allow
    sm = res["samples"]
    sm["arc_easy"] = {"0": requests(ARC, arc_docs(S("arc_easy/ARC-Easy-Test.jsonl")), [], 0),
                      "3": requests(ARC, arc_docs(S("arc_easy/ARC-Easy-Test.jsonl")),
                                    arc_docs(S("arc_easy/ARC-Easy-Train.jsonl")), 3)}
    sm["arc_challenge"] = {"0": requests(ARC, arc_docs(S("arc_challenge/ARC-Challenge-Test.jsonl")), [], 0),
                           "5": requests(ARC, arc_docs(S("arc_challenge/ARC-Challenge-Test.jsonl")),
                                         arc_docs(S("arc_challenge/ARC-Challenge-Train.jsonl")), 5)}
    sm["piqa"] = {"0": requests(PIQA, piqa_docs(S("piqa/valid.jsonl"), S("piqa/valid-labels.lst")), [], 0),
                  "2": requests(PIQA, piqa_docs(S("piqa/valid.jsonl"), S("piqa/valid-labels.lst")),
                                piqa_docs(S("piqa/train.jsonl"), S("piqa/train-labels.lst")), 2)}
    hs = hellaswag_docs(S("hellaswag/hellaswag_val.jsonl"))
    sm["hellaswag"] = {"0": requests(HELLASWAG, hs, [], 0),
                       "10": requests(HELLASWAG, hs, hellaswag_docs(S("hellaswag/hellaswag_train.jsonl")), 10)}
    sm["winogrande"] = {"0": requests(WINO, jsonl(S("winogrande/dev.jsonl")), [], 0),
                        "5": requests(WINO, jsonl(S("winogrande/dev.jsonl")), jsonl(S("winogrande/train_xl.jsonl")), 5)}
    sm["lambada_openai"] = {"0": requests(LAMBADA, jsonl(S("lambada/lambada_test.jsonl")), [], 0)}
    sm["truthfulqa_mc1"] = {"0": requests(TQA1, truthfulqa_docs(S("truthfulqa/mc_task.json")), [], 0)}
    sm["truthfulqa_mc2"] = {"0": requests(TQA2, truthfulqa_docs(S("truthfulqa/mc_task.json")), [], 0)}
    sm["gsm8k"] = {"5": requests(GSM8K, jsonl(S("gsm8k/test.jsonl")), jsonl(S("gsm8k/train.jsonl")), 5)}
    sm["mmlu_anatomy"] = {"0": requests(mmlu_task("anatomy"), mmlu_docs(S("mmlu/sample_test.csv")), [], 0),
                          "5": requests(mmlu_task("anatomy"), mmlu_docs(S("mmlu/sample_test.csv")),
                                        mmlu_docs(S("mmlu/sample_dev.csv")), 5, "first_n")}
    # the real files (those obtained), 0-shot, and GSM8K with its 5 shots
    R = lambda *p: os.path.join(shared, "data", *p)
    if os.path.isdir(R()):
        rl = res["real"]
        rl["arc_challenge"] = {"0": requests(ARC, arc_docs(R("arc/ARC-Challenge/ARC-Challenge-Test.jsonl")), [], 0)}
        rl["piqa"] = {"0": requests(PIQA, piqa_docs(R("piqa/valid.jsonl"), R("piqa/valid-labels.lst")), [], 0)}
        rl["winogrande"] = {"0": requests(WINO, jsonl(R("winogrande/winogrande_1.1/dev.jsonl")), [], 0)}
        lam = jsonl(R("lambada/lambada_test.jsonl"))
        rl["lambada_openai"] = {"0": requests(LAMBADA, lam, [], 0)}
        tq = truthfulqa_docs(R("truthfulqa/data/mc_task.json"))
        rl["truthfulqa_mc1"] = {"0": requests(TQA1, tq, [], 0)}
        rl["truthfulqa_mc2"] = {"0": requests(TQA2, tq, [], 0)}
        rl["gsm8k"] = {"5": requests(GSM8K, jsonl(R("gsm8k/test.jsonl")), jsonl(R("gsm8k/train.jsonl")), 5)}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
