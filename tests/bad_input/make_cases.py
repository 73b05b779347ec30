#!/usr/bin/python3
"""Write the bad-input corpus, tests/bad_input/cases/ (tests/bad_input/README.md has
the format; test_bad_input_corpus.c runs it). Each case is written from the
table below, so the corpus stays reviewable in one place; the case folders
are committed, and re-running rewrites them."""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cases")
CASES = []


def case(name, args, code, needles, files=None, fill=None):
    """args: list of arguments after `yardstick`; files: {path: bytes|str};
    fill: {folder: fixture} (the folder gets the fixture's other files)."""
    CASES.append((name, args, code, needles, files or {}, fill or {}))


def b(x):
    return x.encode() if isinstance(x, str) else x


# ---------------------------------------------------------------- score ----
def score(name, text, needles, extra=(), metrics="exact_match,bleu"):
    case("score_" + name, ["score", "--input", "p.jsonl", "--metrics", metrics, "--per-sample", "ps.jsonl",
                           *extra], 3, needles, {"p.jsonl": text})


GOOD = '{"prediction": "a", "references": ["a"]}\n'
score("control_outside_string", GOOD + '\x01{"prediction": "a", "references": ["a"]}\n', ["p.jsonl:2"])
score("control_inside_string", GOOD + '{"prediction": "a\x02", "references": ["a"]}\n', ["p.jsonl:2"])
score("number_leading_zero", GOOD + '{"prediction": "a", "references": ["a"], "n": 01}\n', ["p.jsonl:2"])
score("number_trailing_dot", '{"prediction": "a", "references": ["a"], "n": 1.}\n', ["p.jsonl:1"])
score("number_plus", '{"prediction": "a", "references": ["a"], "n": +1}\n', ["p.jsonl:1"])
score("number_bare_exponent", '{"prediction": "a", "references": ["a"], "n": 1e}\n', ["p.jsonl:1"])
score("number_dot_first", '{"prediction": "a", "references": ["a"], "n": .5}\n', ["p.jsonl:1"])
score("nan_literal", '{"prediction": "a", "references": ["a"], "n": NaN}\n', ["p.jsonl:1"])
score("trailing_comma_object", '{"prediction": "a", "references": ["a"],}\n', ["p.jsonl:1"])
score("trailing_comma_array", '{"prediction": "a", "references": ["a",]}\n', ["p.jsonl:1"])
score("single_quotes", "{'prediction': 'a', 'references': ['a']}\n", ["p.jsonl:1"])
score("unterminated_string", '{"prediction": "a, "references": ["a"]}\n', ["p.jsonl:1"])
score("bad_escape", '{"prediction": "a\\x41", "references": ["a"]}\n', ["p.jsonl:1"])
score("short_unicode_escape", '{"prediction": "\\u12", "references": ["a"]}\n', ["p.jsonl:1"])
score("lone_high_surrogate", GOOD * 2 + '{"prediction": "\\ud800", "references": ["a"]}\n', ["p.jsonl:3"])
score("lone_low_surrogate", '{"prediction": "\\udc00x", "references": ["a"]}\n', ["p.jsonl:1"])
score("nul_escape", '{"prediction": "a\\u0000b", "references": ["a"]}\n', ["p.jsonl:1"])
score("nul_escape_reference", GOOD + '{"prediction": "a", "references": ["x\\u0000"]}\n', ["p.jsonl:2"])
score("raw_nul_byte", GOOD + '{"prediction": "a\x00", "references": ["a"]}\n', ["p.jsonl:2"])
score("invalid_utf8", b'{"prediction": "caf\xe9", "references": ["a"]}\n', ["p.jsonl:1"])
score("overlong_utf8", b'{"prediction": "\xc0\xaf", "references": ["a"]}\n', ["p.jsonl:1"])
score("truncated_utf8", b'{"prediction": "\xe2\x82", "references": ["a"]}\n', ["p.jsonl:1"])
score("utf8_surrogate_encoded", b'{"prediction": "\xed\xa0\x80", "references": ["a"]}\n', ["p.jsonl:1"])
score("missing_prediction", GOOD + '{"references": ["a"]}\n', ["p.jsonl:2", "prediction"])
score("missing_references", '{"prediction": "a"}\n', ["p.jsonl:1", "reference"])
score("prediction_number", '{"prediction": 3, "references": ["a"]}\n', ["p.jsonl:1", "prediction"],
      metrics="bleu")
score("prediction_array", '{"prediction": ["a"], "references": ["a"]}\n', ["p.jsonl:1", "prediction"],
      metrics="bleu")
score("references_empty", '{"prediction": "a", "references": []}\n', ["p.jsonl:1", "references"])
score("reference_object", '{"prediction": "a", "references": [{"t": "a"}]}\n', ["p.jsonl:1", "references"],
      metrics="bleu")
score("line_is_array", GOOD + '["a", "a"]\n', ["p.jsonl:2"])
score("line_is_string", '"just text"\n', ["p.jsonl:1"])
score("garbage_after_object", '{"prediction": "a", "references": ["a"]} x\n', ["p.jsonl:1"])
score("two_objects_one_line", GOOD.strip() + GOOD, ["p.jsonl:1"])
score("bom_in_middle", GOOD + '\ufeff' + GOOD, ["p.jsonl:2"])
score("deep_nesting", '{"prediction": "a", "references": ["a"], "x": ' + "[" * 600 + "]" * 600 + "}\n",
      ["p.jsonl:1"])
score("empty_file", "", ["p.jsonl"])
score("only_blank_lines", "\n\n  \n", ["p.jsonl"])
score("form_feed_line", GOOD + "\f\n", ["p.jsonl:2"])
score("label_not_number", '{"prediction": "yes", "reference": "1"}\n', ["p.jsonl:1"],
      metrics="pearsonr")
score("metric_label_nan", '{"prediction": "1", "reference": "nan"}\n', ["p.jsonl:1"], metrics="pearsonr")
case("score_plain_missing_refs_lines", ["score", "bleu", "-i", "h.txt", "-r", "r.txt"], 3, ["r.txt"],
     {"h.txt": "a b\nc d\n", "r.txt": "a b\n"})
case("score_plain_invalid_utf8", ["score", "chrf", "-i", "h.txt", "-r", "r.txt"], 3, ["h.txt:2"],
     {"h.txt": b"a b\nc \xff d\n", "r.txt": "a b\nc d\n"})
case("score_input_missing", ["score", "--input", "nope.jsonl", "--metrics", "bleu"], 3, ["nope.jsonl"])
case("score_usage_bad_metric", ["score", "--input", "p.jsonl", "--metrics", "blue"], 2, ["blue"],
     {"p.jsonl": GOOD})
case("score_usage_seed_negative", ["score", "--input", "p.jsonl", "--metrics", "bleu", "--seed", "-1"], 2,
     ["--seed"], {"p.jsonl": GOOD})
case("score_usage_seed_huge", ["score", "--input", "p.jsonl", "--metrics", "bleu", "--seed", "1e300"], 2,
     ["--seed"], {"p.jsonl": GOOD})
case("score_usage_bootstrap_nan", ["score", "--input", "p.jsonl", "--metrics", "bleu", "--bootstrap", "nan"], 2,
     ["--bootstrap"], {"p.jsonl": GOOD})

# ------------------------------------------------------------------ run ----
def spec(fmt, rel, extra=None, name="t", output="multiple_choice", header=True):
    s = {"name": name, "dataset": {"format": fmt, "eval_split": "validation", "files": {"validation": rel},
                                   "samples": {"validation": rel}},
         "output_type": output, "doc_to_text": "{{sentence}}", "doc_to_choice": ["a", "b"],
         "doc_to_target": "{{label}}", "metrics": [{"metric": "acc"}]}
    if fmt in ("tsv", "csv"):
        s["dataset"]["header"] = header
    if extra:
        for k, v in extra.items():
            if v is None:
                s.pop(k, None)
            else:
                s[k] = v
    return json.dumps(s) + "\n"


RUN = ["run", "--model", "@TINY@", "--include-path", "specs", "--data-dir", "data", "--tasks", "t", "--no-db",
       "--output", "o.json", "--log-samples"]


def run_case(name, fmt, data, needles, rel=None, extra=None, code=3, args_extra=(), files=None):
    rel = rel or {"tsv": "d/dev.tsv", "csv": "d/dev.csv", "jsonl": "d/dev.jsonl", "squad-json": "d/dev.json",
                  "text": "d/test.raw", "json": "d/dev.json"}[fmt]
    f = {"specs/t.json": spec(fmt, rel, extra), "data/" + rel: data}
    f.update(files or {})
    case("run_" + name, RUN + list(args_extra), code, needles, f)


run_case("tsv_wrong_field_count", "tsv", "sentence\tlabel\ngood\t1\nbad\t0\textra\n", ["dev.tsv:3"])
run_case("tsv_too_few_fields", "tsv", "sentence\tlabel\ngood\t1\nonly one field\n", ["dev.tsv:3"])
run_case("tsv_invalid_utf8", "tsv", b"sentence\tlabel\ngood\t1\nbad \xff\t0\n", ["dev.tsv:3"])
run_case("tsv_nul_byte", "tsv", b"sentence\tlabel\ngo\x00od\t1\n", ["dev.tsv:2"])
run_case("tsv_header_only", "tsv", "sentence\tlabel\n", ["dev.tsv", "no documents"])
run_case("tsv_empty_file", "tsv", "", ["dev.tsv", "no documents"])
run_case("tsv_label_unknown", "tsv", "sentence\tlabel\ngood\t7\n", ["dev.tsv:2", "label"])
run_case("tsv_label_not_integer", "tsv", "sentence\tlabel\ngood\tx\n", ["dev.tsv:2"])
run_case("tsv_missing_field", "tsv", "text\tlabel\ngood\t1\n", ["dev.tsv:2", "sentence"])
run_case("csv_unterminated_quote", "csv", 'sentence,label\n"good,1\n', ["dev.csv:2"])
run_case("csv_text_after_quote", "csv", 'sentence,label\n"good"x,1\n', ["dev.csv:2"])
run_case("csv_wrong_field_count", "csv", 'sentence,label\ngood,1\nbad,0,more\n', ["dev.csv:3"])
run_case("csv_invalid_utf8", "csv", b'sentence,label\n"\xc3",1\n', ["dev.csv:2"])
run_case("jsonl_malformed", "jsonl", '{"sentence": "a", "label": 0}\n{"sentence": "b", "label": }\n',
         ["dev.jsonl:2"])
run_case("jsonl_not_object", "jsonl", '{"sentence": "a", "label": 0}\n[1, 2]\n', ["dev.jsonl:2"])
run_case("jsonl_control_whitespace", "jsonl", '\x01{"sentence": "a", "label": 0}\n', ["dev.jsonl:1"])
run_case("jsonl_nul_escape", "jsonl", '{"sentence": "a\\u0000", "label": 0}\n', ["dev.jsonl:1"])
run_case("jsonl_lone_surrogate", "jsonl", '{"sentence": "\\ud83d", "label": 0}\n', ["dev.jsonl:1"])
run_case("jsonl_bad_number", "jsonl", '{"sentence": "a", "label": 00}\n', ["dev.jsonl:1"])
run_case("jsonl_field_missing", "jsonl", '{"sentence": "a", "label": 0}\n{"label": 1}\n',
         ["dev.jsonl:2", "sentence"])
run_case("jsonl_blank_only", "jsonl", "\n\n", ["dev.jsonl", "no documents"])
SQUAD_SPEC = {"output_type": "generate_until", "doc_to_text": "{{question}}", "doc_to_choice": None,
              "doc_to_target": "{{answers}}", "generation": {"until": ["\n"], "max_gen_toks": 4},
              "metrics": [{"metric": "squad_f1"}]}


def squad(qas):
    return json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "c", "qas": qas}]}]})


run_case("squad_no_answers", "squad-json",
         squad([{"id": "1", "question": "q", "answers": [{"text": "c", "answer_start": 0}]},
                {"id": "2", "question": "q2", "answers": []}]),
         ["dev.json", "data[0].paragraphs[0].qas[1].answers"], extra=SQUAD_SPEC)
run_case("squad_answers_not_array", "squad-json",
         squad([{"id": "1", "question": "q", "answers": "c"}]), ["dev.json", "qas[0]"], extra=SQUAD_SPEC)
run_case("squad_data_not_array", "squad-json", '{"data": {"title": "x"}}', ["dev.json", "data"], extra=SQUAD_SPEC)
run_case("squad_question_number", "squad-json",
         squad([{"id": "1", "question": 5, "answers": [{"text": "c", "answer_start": 0}]}]),
         ["dev.json", "qas[0]"], extra=SQUAD_SPEC)
run_case("squad_malformed", "squad-json", '{"data": [', ["dev.json"], extra=SQUAD_SPEC)
run_case("squad_trailing_garbage", "squad-json", squad([]) + " x", ["dev.json"], extra=SQUAD_SPEC)
TEXT_SPEC = {"output_type": "loglikelihood_rolling", "doc_to_text": "", "doc_to_choice": None,
             "doc_to_target": "{{text}}", "metrics": [{"metric": "word_perplexity"}]}
run_case("text_invalid_utf8", "text", b" = T = \n\n abc \xfe\n", ["test.raw:3"], extra=TEXT_SPEC)
run_case("text_nul_byte", "text", b" = T = \n\n ab\x00c\n", ["test.raw:3"], extra=TEXT_SPEC)
run_case("text_whitespace_only", "text", "  \n\n \t\n", ["test.raw", "no documents"], extra=TEXT_SPEC)
run_case("template_unknown_field", "tsv", "sentence\tlabel\ngood\t1\n", ["dev.tsv:2: task t", "nosuch"],
         extra={"doc_to_text": "{{nosuch}}"})
run_case("template_unclosed", "tsv", "sentence\tlabel\ngood\t1\n", ["dev.tsv:2: task t", "'{{' without '}}'"],
         extra={"doc_to_text": "{{sentence"})
run_case("template_unknown_filter", "tsv", "sentence\tlabel\ngood\t1\n", ["dev.tsv:2: task t", "shout"],
         extra={"doc_to_text": "{{sentence|shout}}"})
case("run_group_cycle", RUN[:-6] + ["--tasks", "g1", "--no-db", "--output", "o.json"], 3, ["g1 -> g2 -> g1"],
     {"specs/g1.json": '{"name": "g1", "group": ["g2"]}\n', "specs/g2.json": '{"name": "g2", "group": ["g1"]}\n'})
case("run_group_self", RUN[:-6] + ["--tasks", "me", "--no-db", "--output", "o.json"], 3, ["me -> me"],
     {"specs/me.json": '{"name": "me", "group": ["me"]}\n'})
case("run_spec_malformed", RUN, 3, ["t.json:1"], {"specs/t.json": '{"name": "t",, }\n'})
case("run_spec_name_number", RUN, 3, ["t.json", "name"], {"specs/t.json": spec("tsv", "d/dev.tsv", {"name": 5})})
case("run_task_unknown", RUN[:-6] + ["--tasks", "nosuchtask", "--no-db", "--output", "o.json"], 2, ["nosuchtask"])
case("run_tasks_empty_list", RUN[:-6] + ["--tasks", ",,", "--no-db", "--output", "o.json"], 2, ["--tasks"])
case("run_data_missing", RUN, 3, ["d/dev.tsv"], {"specs/t.json": spec("tsv", "d/dev.tsv")})
case("run_limit_negative", RUN + ["--limit", "-3"], 2, ["--limit"],
     {"specs/t.json": spec("tsv", "d/dev.tsv"), "data/d/dev.tsv": "sentence\tlabel\na\t1\n"})
case("run_fewshot_nan", RUN + ["--num-fewshot", "nan"], 2, ["--num-fewshot"],
     {"specs/t.json": spec("tsv", "d/dev.tsv"), "data/d/dev.tsv": "sentence\tlabel\na\t1\n"})
case("run_model_missing", ["run", "--model", "nomodel", "--tasks", "sst2", "--no-db", "--output", "o.json"], 3,
     ["nomodel"])

# --------------------------------------------------------- tasks validate ----
def validate(name, text, needles, fname="v.json"):
    case("validate_" + name, ["tasks", "validate", "specs/" + fname], 3, needles, dict(SAMPLE, **{"specs/" + fname: text}))


BASE = json.loads(spec("tsv", "sst2/dev.tsv"))
SAMPLE = {"samples/sst2/dev.tsv": "sentence\tlabel\ngood\t1\n"}
BASE["name"] = "v"


def vspec(**kw):
    s = json.loads(json.dumps(BASE))
    for k, v in kw.items():
        if v is None:
            s.pop(k, None)
        else:
            s[k] = v
    return json.dumps(s)


validate("malformed_json", '{"name": "v", "dataset": {', ["v.json"])
validate("control_byte", '{"name": "v"\x01}', ["v.json:1"])
validate("not_object", '["v"]', ["v.json"])
validate("name_not_string", vspec(name=["v"]), ["v.json", "name"])
validate("dataset_not_object", vspec(dataset="tsv"), ["v.json", "dataset"])
validate("unknown_output_type", vspec(output_type="guess"), ["v.json", "output_type"])
validate("metrics_not_array", vspec(metrics={"metric": "acc"}), ["v.json", "metrics"])
validate("metric_unknown", vspec(metrics=[{"metric": "accuracy_plus"}]), ["v.json", "metrics[0].metric"])
validate("fewshot_negative", vspec(num_fewshot=-1), ["v.json", "num_fewshot"])
validate("fewshot_fraction", vspec(num_fewshot=1.5), ["v.json", "num_fewshot"])
validate("fewshot_huge", vspec(num_fewshot=1e300), ["v.json", "num_fewshot"])
validate("version_string", vspec(version="1"), ["v.json", "version"])
validate("choices_not_strings", vspec(doc_to_choice=["a", 2]), ["v.json", "doc_to_choice"])
validate("template_unclosed", vspec(doc_to_text="{{sentence"), ["sst2/dev.tsv:2: task v", "'{{' without '}}'"])
validate("template_unknown_filter", vspec(doc_to_text="{{sentence|nofilter}}"), ["sst2/dev.tsv:2: task v", "nofilter"])
validate("regex_bad", vspec(output_type="generate_until", doc_to_choice=None,
                            filters=[{"function": "regex", "regex_pattern": "(unclosed"}],
                            metrics=[{"metric": "exact_match"}]), ["v.json"])
validate("nul_in_name", vspec(name="v\\u0000x").replace("\\\\u0000", "\\u0000"), ["v.json"])
validate("invalid_utf8", vspec(description="caf\udcff").encode("utf-8", "surrogateescape"), ["v.json"])
validate("group_self", '{"name": "v", "group": ["v"]}', ["v -> v"])
case("validate_group_cycle", ["tasks", "validate", "specs/ga.json"], 3, ["ga -> gb -> ga"],
     {"specs/ga.json": '{"name": "ga", "group": ["gb"]}', "specs/gb.json": '{"name": "gb", "group": ["ga"]}'})
validate("group_not_array", '{"name": "v", "group": "sst2"}', ["v.json", "group"])
validate("group_empty", '{"name": "v", "group": []}', ["v.json", "group"])
validate("format_unknown", vspec(dataset={"format": "xml", "eval_split": "validation",
                                          "files": {"validation": "a.xml"}, "samples": {"validation": "a.xml"}}),
         ["v.json", "dataset.format"])
validate("label_map_not_integers", vspec(label_map={"a": "zero"}), ["v.json", "label_map"])
validate("sample_file_missing", vspec(dataset={"format": "tsv", "header": True, "eval_split": "validation",
                                               "files": {"validation": "nope/dev.tsv"},
                                               "samples": {"validation": "nope/dev.tsv"}}), ["nope/dev.tsv"])
validate("duplicate_key_wrong_last", '{"name": "v", "name": 3}', ["v.json", "name"])
case("validate_file_missing", ["tasks", "validate", "specs/none.json"], 3, ["none.json"])

# --------------------------------------------------------------- import ----
def imp(name, text, needles):
    case("import_" + name, ["import", "r.json", "--db", "r.db", "--model", "m"], 3, needles, {"r.json": text})


imp("malformed", '{"results": {"sst2": {"acc,none": 0.5}}', ["r.json"])
imp("results_array", '{"results": [{"acc,none": 0.5}]}', ["r.json", "results"])
imp("task_value_array", '{"results": {"sst2": [0.5]}}', ["r.json", "sst2"])
imp("task_value_number", '{"results": {"sst2": 0.5}}', ["r.json", "sst2"])
imp("no_results", '{"config": {"model": "hf"}}', ["r.json", "results"])
imp("results_empty", '{"results": {}}', ["r.json", "results"])
imp("metric_value_array", '{"results": {"sst2": {"acc,none": [0.5]}}}', ["r.json", "results.sst2.acc,none"])
imp("n_samples_entry_number", '{"results": {"sst2": {"acc,none": 0.5}}, "n-samples": {"sst2": 5}}',
    ["r.json", "n-samples.sst2"])
imp("effective_negative", '{"results": {"sst2": {"acc,none": 0.5}}, "n-samples": {"sst2": {"effective": -1}}}',
    ["r.json", "effective"])
imp("control_byte", '{"results":\x01 {"sst2": {"acc,none": 0.5}}}', ["r.json:1"])
imp("nul_in_task_name", '{"results": {"ss\\u0000t2": {"acc,none": 0.5}}}', ["r.json"])
imp("invalid_utf8", b'{"results": {"s\xffst2": {"acc,none": 0.5}}}', ["r.json"])
imp("not_object", '[1, 2, 3]', ["r.json"])
imp("config_not_object", '{"results": {"sst2": {"acc,none": 0.5}}, "config": "hf"}', ["r.json", "config"])
imp("n_samples_wrong_type", '{"results": {"sst2": {"acc,none": 0.5}}, "n-samples": {"sst2": "many"}}',
    ["r.json", "n-samples"])
imp("huge_number", '{"results": {"sst2": {"acc,none": 1e999}}}', ["r.json", "not a finite number"])
case("import_file_missing", ["import", "none.json", "--db", "r.db"], 3, ["none.json"])

# ------------------------------------------------------------- tokenize ----
TOKJ = json.load(open(os.path.join(HERE, "..", "data", "models", "tiny", "tokenizer.json")))


def tok_variant(mut):
    t = json.loads(json.dumps(TOKJ))
    mut(t)
    return json.dumps(t, ensure_ascii=False)


def swap_first_two(t):
    v = t["model"]["vocab"]
    a, b = sorted(v, key=v.get)[:2]
    v[a], v[b] = v[b], v[a]


def tokcase(name, tokjson, needles, args=("hello",), code=3, fname="tokenizer.json"):
    case("tokenize_" + name, ["tokenize", "--model", "m", *args], code, needles,
         {"m/" + fname: tokjson, "m/fill-from": "tiny"})


tokcase("malformed_json", '{"model": {"type": "BPE", ', ["tokenizer.json"])
tokcase("model_type_unknown", tok_variant(lambda t: t["model"].__setitem__("type", "Magic")), ["tokenizer.json", "Magic"])
tokcase("vocab_not_object", tok_variant(lambda t: t["model"].__setitem__("vocab", ["a"])), ["tokenizer.json", "vocab"])
tokcase("vocab_id_string", tok_variant(lambda t: t["model"]["vocab"].__setitem__("zz", "7")), ["tokenizer.json", "vocab"])
tokcase("vocab_id_negative", tok_variant(lambda t: t["model"]["vocab"].__setitem__("zz", -4)), ["tokenizer.json"])
tokcase("merges_not_array", tok_variant(lambda t: t["model"].__setitem__("merges", "a b")), ["tokenizer.json", "merges"])
tokcase("merge_unknown_token", tok_variant(lambda t: t["model"]["merges"].insert(0, "qqq zzz")),
        ["tokenizer.json", "merge"])
tokcase("added_tokens_not_array", tok_variant(lambda t: t.__setitem__("added_tokens", {"id": 1})),
        ["tokenizer.json", "added token"])
tokcase("added_token_no_content", tok_variant(lambda t: t["added_tokens"].append({"id": 5})),
        ["tokenizer.json", "content"])
tokcase("normalizer_unknown", tok_variant(lambda t: t.__setitem__("normalizer", {"type": "Shout"})),
        ["tokenizer.json", "Shout"])
tokcase("pretokenizer_regex_bad", tok_variant(lambda t: t.__setitem__(
    "pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated", "invert": False})),
    ["tokenizer.json"])
tokcase("decoder_unknown", tok_variant(lambda t: t.__setitem__("decoder", {"type": "Telepathy"})),
        ["tokenizer.json", "Telepathy"])
tokcase("vocab_key_bare_lead_byte", json.dumps(TOKJ, ensure_ascii=False).replace('"!"', '"!\\udcc3"', 1)
        .encode("utf-8", "surrogateescape"), ["tokenizer.json"])
tokcase("vocab_key_nul", json.dumps(TOKJ).replace('"!"', '"!\\u0000"', 1), ["tokenizer.json"])
case("tokenize_file_invalid_utf8", ["tokenize", "--model", "@TINY@", "--file", "t.txt"], 3, ["t.txt:2"],
     {"t.txt": b"fine\nbad \xff\n"})
case("tokenize_file_missing", ["tokenize", "--model", "@TINY@", "--file", "none.txt"], 3, ["none.txt"])
case("tokenize_jsonl_malformed", ["tokenize", "--model", "@TINY@", "--jsonl", "t.jsonl"], 3, ["t.jsonl:2"],
     {"t.jsonl": '{"text": "a"}\n{"text": "b",}\n'})
case("tokenize_jsonl_text_missing", ["tokenize", "--model", "@TINY@", "--jsonl", "t.jsonl"], 3,
     ["t.jsonl:1", "text"], {"t.jsonl": '{"txt": "a"}\n'})
case("tokenize_jsonl_text_number", ["tokenize", "--model", "@TINY@", "--jsonl", "t.jsonl"], 3,
     ["t.jsonl:1", "text"], {"t.jsonl": '{"text": 5}\n'})
case("tokenize_jsonl_special_wrong_type", ["tokenize", "--model", "@TINY@", "--jsonl", "t.jsonl"], 3,
     ["t.jsonl:2", "add_special_tokens"], {"t.jsonl": '{"text": "a"}\n{"text": "b", "add_special_tokens": "yes"}\n'})
case("tokenize_jsonl_nul", ["tokenize", "--model", "@TINY@", "--jsonl", "t.jsonl"], 3, ["t.jsonl:1"],
     {"t.jsonl": '{"text": "a\\u0000b"}\n'})
case("tokenize_legacy_merges_invalid_utf8", ["tokenize", "--model", "m", "hi"], 3, ["merges.txt:2"],
     {"m/vocab.json": json.dumps({"h": 0, "i": 1, "hi": 2}), "m/merges.txt": b"#version: 0.2\nh \xffi\n"})
case("tokenize_legacy_vocab_bad", ["tokenize", "--model", "m", "hi"], 3, ["vocab.json"],
     {"m/vocab.json": '{"h": 0, "i": "one"}', "m/merges.txt": "#version: 0.2\nh i\n"})

# ---------------------------------------------- checkpoints (logprobs) ----
CFG = json.load(open(os.path.join(HERE, "..", "data", "models", "tiny", "config.json")))


def cfg_variant(**kw):
    c = dict(CFG)
    for k, v in kw.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return json.dumps(c)


def lp(name, files, needles, args=("--text", "t.txt"), code=3, cmd="logprobs"):
    f = {"t.txt": "hello world\n", "m/fill-from": "tiny"}
    f.update({("m/" + k if not k.startswith("/") else k[1:]): v for k, v in files.items()})
    case(cmd + "_" + name, [cmd, "--model", "m", *args], code, needles, f)


lp("config_malformed", {"config.json": '{"model_type": "gpt2",'}, ["config.json"])
lp("config_not_object", {"config.json": '"gpt2"'}, ["config.json"])
lp("config_eps_negative", {"config.json": cfg_variant(layer_norm_epsilon=-1e-5)}, ["config.json", "layer_norm_epsilon"])
lp("config_layers_huge", {"config.json": cfg_variant(n_layer=1e300)}, ["config.json", "n_layer"])
lp("config_layers_fraction", {"config.json": cfg_variant(n_layer=1.5)}, ["config.json", "n_layer"])
lp("config_layers_string", {"config.json": cfg_variant(n_layer="2")}, ["config.json", "n_layer"])
lp("config_embd_zero", {"config.json": cfg_variant(n_embd=0)}, ["config.json", "n_embd"])
lp("config_positions_2_63", {"config.json": cfg_variant(n_positions=9223372036854775808)}, ["config.json", "n_positions"])
lp("config_model_type_unknown", {"config.json": cfg_variant(model_type="hal9000", architectures=["Hal"])},
   ["config.json"])
lp("config_vocab_mismatch", {"config.json": cfg_variant(vocab_size=CFG.get("vocab_size", 100) + 7)},
   ["wte"])
lp("config_nul_key", {"config.json": cfg_variant().replace('"model_type"', '"model\\u0000_type"', 1)},
   ["config.json"])


def st(tensors_header, blob=b""):
    h = json.dumps(tensors_header).encode()
    return struct.pack("<Q", len(h)) + h + blob


lp("safetensors_header_empty", {"model.safetensors": st({})}, ["m: the safetensors files hold no tensors"])
lp("safetensors_truncated", {"model.safetensors": b"\x10\x00\x00"}, ["model.safetensors"])
lp("safetensors_header_too_long", {"model.safetensors": struct.pack("<Q", 1 << 40) + b"{}"}, ["model.safetensors"])
lp("safetensors_header_malformed", {"model.safetensors": st({}).replace(b"{}", b"{[")}, ["model.safetensors"])
lp("safetensors_dtype_unknown", {"model.safetensors": st({"w": {"dtype": "F7", "shape": [1],
                                                                 "data_offsets": [0, 4]}}, b"\0" * 4)},
   ["model.safetensors", "w"])
lp("safetensors_offsets_outside", {"model.safetensors": st({"w": {"dtype": "F32", "shape": [4],
                                                                   "data_offsets": [0, 16]}}, b"\0" * 8)},
   ["model.safetensors", "w"])
lp("safetensors_size_mismatch", {"model.safetensors": st({"w": {"dtype": "F32", "shape": [3],
                                                                 "data_offsets": [0, 8]}}, b"\0" * 8)},
   ["model.safetensors", "w"])
lp("safetensors_overlap", {"model.safetensors": st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
                                                   b"\0" * 12)}, ["model.safetensors"])
lp("safetensors_shape_negative", {"model.safetensors": st({"w": {"dtype": "F32", "shape": [-1],
                                                                  "data_offsets": [0, 4]}}, b"\0" * 4)},
   ["model.safetensors", "w"])
lp("safetensors_shape_overflow", {"model.safetensors": st({"w": {"dtype": "F32", "shape": [4294967296, 4294967296],
                                                                  "data_offsets": [0, 4]}}, b"\0" * 4)},
   ["model.safetensors", "w"])
case("logprobs_ids_not_integer", ["logprobs", "--model", "@TINY@", "--ids", "i.txt"], 3, ["i.txt:2"],
     {"i.txt": "1 2 3\n4 x 6\n"})
case("logprobs_ids_out_of_vocab", ["logprobs", "--model", "@TINY@", "--ids", "i.txt"], 3, ["i.txt:1"],
     {"i.txt": "1 2 99999999\n"})
case("logprobs_ids_negative", ["logprobs", "--model", "@TINY@", "--ids", "i.txt"], 3, ["i.txt:1"],
     {"i.txt": "1 -2 3\n"})
case("logprobs_ids_huge", ["logprobs", "--model", "@TINY@", "--ids", "i.txt"], 3, ["i.txt:1"],
     {"i.txt": "1 99999999999999999999999 3\n"})
case("logprobs_text_invalid_utf8", ["logprobs", "--model", "@TINY@", "--text", "t.txt"], 3, ["t.txt"],
     {"t.txt": b"ok\nbad\xc3\n"})
case("logprobs_from_zero", ["logprobs", "--model", "@TINY@", "--text", "t.txt", "--from", "-1"], 2, ["--from"],
     {"t.txt": "hello\n"})
case("logprobs_model_missing", ["logprobs", "--model", "nomodel", "--text", "t.txt"], 3, ["nomodel"],
     {"t.txt": "hello\n"})
case("logprobs_adapter_config_bad", ["logprobs", "--model", "@TINY@", "--adapter", "a", "--text", "t.txt"], 3,
     ["adapter_config.json"], {"t.txt": "hello\n", "a/adapter_config.json": '{"peft_type": "LORA", "r": "8"}',
                               "a/fill-from": "lora_tiny_a"})
case("logprobs_adapter_peft_type", ["logprobs", "--model", "@TINY@", "--adapter", "a", "--text", "t.txt"], 3,
     ["adapter_config.json", "peft_type"],
     {"t.txt": "hello\n", "a/adapter_config.json": '{"peft_type": "PREFIX_TUNING"}', "a/fill-from": "lora_tiny_a"})
case("logprobs_adapter_weights_empty", ["logprobs", "--model", "@TINY@", "--adapter", "a", "--text", "t.txt"], 3,
     ["a: the safetensors files hold no tensors"], {"t.txt": "hello\n", "a/adapter_model.safetensors": st({}),
                                     "a/fill-from": "lora_tiny_a"})

# ------------------------------------------------------------- generate ----
G = ["generate", "--model", "@TINY@", "--prompt", "hi"]
case("generate_temperature_nan", G + ["--temperature", "nan", "--seed", "1"], 2, ["--temperature"])
case("generate_top_p_nan", G + ["--temperature", "1", "--top-p", "nan", "--seed", "1"], 2, ["--top-p"])
case("generate_max_tokens_negative", G + ["--max-tokens", "-1"], 2, ["--max-tokens"])
case("generate_prompt_ids_not_integer", ["generate", "--model", "@TINY@", "--prompt-ids", "1 x 3"], 3,
     ["--prompt-ids", "'x 3' is not a token id"])
case("generate_prompt_ids_out_of_vocab", ["generate", "--model", "@TINY@", "--prompt-ids", "1 99999999"], 3,
     ["99999999"])
case("generate_length_penalty_nan", ["generate", "--model", "@MODELS@/marian", "--prompt-ids", "1 2",
                                     "--length-penalty", "nan"], 2, ["--length-penalty"])
case("generate_genconfig_length_penalty_type", ["generate", "--model", "m", "--prompt-ids", "5 6"], 3,
     ["generation_config.json", "length_penalty"],
     {"m/generation_config.json": '{"length_penalty": "long", "num_beams": 2}', "m/fill-from": "marian"})
case("generate_genconfig_num_beams_huge", ["generate", "--model", "m", "--prompt-ids", "5 6"], 3,
     ["generation_config.json", "num_beams"],
     {"m/generation_config.json": '{"num_beams": 1e300}', "m/fill-from": "marian"})
case("generate_genconfig_malformed", ["generate", "--model", "m", "--prompt-ids", "5 6"], 3,
     ["generation_config.json"], {"m/generation_config.json": '{"num_beams": 2', "m/fill-from": "marian"})
lp("config_rope_theta_negative", {"config.json": json.dumps(dict(json.load(open(os.path.join(
    HERE, "..", "data", "models", "llama", "config.json"))), rope_theta=-10000.0)), "fill-from": "llama"},
   ["config.json", "rope_theta"], args=("--prompt-ids", "1 2"), cmd="generate")

# ----------------------------------------------------------- perplexity ----
case("perplexity_text_invalid_utf8", ["perplexity", "--model", "@TINY@", "--text", "w.raw"], 3, ["w.raw:3"],
     {"w.raw": b" = T = \n\n \xf0\x28\x8c\xbc\n"})
case("perplexity_text_empty", ["perplexity", "--model", "@TINY@", "--text", "w.raw"], 3, ["w.raw"],
     {"w.raw": ""})
case("perplexity_text_missing", ["perplexity", "--model", "@TINY@", "--text", "none.raw"], 3, ["none.raw"])
case("perplexity_ctx_negative", ["perplexity", "--model", "@TINY@", "--text", "w.raw", "--ctx", "-4"], 2, ["--ctx"],
     {"w.raw": "hello world\n"})
case("perplexity_stride_huge", ["perplexity", "--model", "@TINY@", "--text", "w.raw", "--ctx", "8", "--stride", "9"],
     2, ["--stride"], {"w.raw": "hello world\n"})
lp("config_heads_not_divisor", {"config.json": cfg_variant(n_head=3)}, ["config.json"], args=("--text", "t.txt"),
   cmd="perplexity")

# ------------------------------------------------------------- classify ----
C = ["classify", "--model", "@MODELS@/bert_cls"]
case("classify_ids_not_integer", C + ["--ids", "i.txt"], 3, ["i.txt:1"], {"i.txt": "11 abc 12\n"})
case("classify_ids_out_of_vocab", C + ["--ids", "i.txt"], 3, ["i.txt:2"], {"i.txt": "11 12\n11 9999999 12\n"})
case("classify_type_ids_line_count", C + ["--ids", "i.txt", "--token-type-ids", "t.txt"], 3, ["t.txt"],
     {"i.txt": "11 12\n11 12\n", "t.txt": "0 0\n"})
case("classify_type_ids_out_of_range", C + ["--ids", "i.txt", "--token-type-ids", "t.txt"], 3, ["t.txt:1"],
     {"i.txt": "11 12\n", "t.txt": "0 7\n"})
case("classify_decoder_model", ["classify", "--model", "@TINY@", "--text", "hi"], 2, ["@TINY@", "not an encoder classifier"])
case("classify_num_labels_mismatch", ["classify", "--model", "m", "--text", "hi"], 3, ["config.json"],
     {"m/config.json": json.dumps(dict(json.load(open(os.path.join(HERE, "..", "data", "models", "bert_cls",
                                                                    "config.json"))), id2label={"0": "a"},
                                        num_labels=1)), "m/fill-from": "bert_cls"})
case("classify_id2label_wrong_type", ["classify", "--model", "m", "--text", "hi"], 3, ["config.json", "id2label"],
     {"m/config.json": json.dumps(dict(json.load(open(os.path.join(HERE, "..", "data", "models", "bert_cls",
                                                                    "config.json"))), id2label=["a", "b"])),
      "m/fill-from": "bert_cls"})

# ------------------------------------------------------------------ kld ----
K = ["kld", "--base", "@TINY@", "--model", "@TINY@"]
case("kld_ids_not_integer", K + ["--ids", "i.txt"], 3, ["i.txt:1"], {"i.txt": "1 2 q\n"})
case("kld_ids_out_of_vocab", K + ["--ids", "i.txt"], 3, ["i.txt:2"], {"i.txt": "1 2\n3 99999999\n"})
case("kld_text_invalid_utf8", K + ["--text", "t.txt"], 3, ["t.txt"], {"t.txt": b"abc \xff\n"})
case("kld_per_token_without_json", K + ["--ids", "i.txt", "--per-token"], 2, ["--per-token"], {"i.txt": "1 2\n"})
case("kld_tokenizer_mismatch", ["kld", "--base", "@TINY@", "--model", "m", "--ids", "i.txt"], 3,
     ["do not share a tokenizer"],
     {"i.txt": "1 2\n", "m/tokenizer.json": tok_variant(swap_first_two), "m/fill-from": "tiny"})
case("kld_tasks_empty_split", K + ["--include-path", "specs", "--data-dir", "data", "--tasks", "t"], 3,
     ["dev.tsv", "no documents"], {"specs/t.json": spec("tsv", "d/dev.tsv"), "data/d/dev.tsv": "sentence\tlabel\n"})
case("kld_tasks_group_cycle", K + ["--include-path", "specs", "--tasks", "g1"], 3, ["g1 -> g2 -> g1"],
     {"specs/g1.json": '{"name": "g1", "group": ["g2"]}\n', "specs/g2.json": '{"name": "g2", "group": ["g1"]}\n'})
case("kld_tasks_bad_row", K + ["--include-path", "specs", "--data-dir", "data", "--tasks", "t"], 3, ["dev.tsv:3"],
     {"specs/t.json": spec("tsv", "d/dev.tsv"), "data/d/dev.tsv": "sentence\tlabel\na\t1\nb\n"})
case("kld_base_missing", ["kld", "--model", "@TINY@", "--ids", "i.txt"], 2, ["--base"], {"i.txt": "1 2\n"})

# -------------------------------------------------------------- compare ----
case("compare_baseline_json_malformed", ["compare", "--baseline", "b.json", "--candidate", "m", "--db", "r.db"], 3,
     ["b.json"], {"b.json": '{"results": {"sst2": {"acc,none": 0.5}}'})
case("compare_baseline_json_results_array", ["compare", "--baseline", "b.json", "--candidate", "m", "--db", "r.db"],
     3, ["b.json", "results"], {"b.json": '{"results": [1]}'})
case("compare_max_drop_nan", ["compare", "--baseline", "1", "--candidate", "2", "--max-drop", "acc=nan"], 2,
     ["--max-drop"])
case("compare_alpha_out_of_range", ["compare", "--baseline", "1", "--candidate", "2", "--alpha", "2"], 2,
     ["--alpha"])
case("compare_unknown_run", ["compare", "--baseline", "41", "--candidate", "42", "--db", "r.db",
                             "--junit", "j.xml", "--markdown", "m.md"], 3, ["41"], {"r.db": b""})
case("compare_db_not_sqlite", ["compare", "--baseline", "1", "--candidate", "2", "--db", "r.db", "--junit", "j.xml"],
     3, ["r.db"], {"r.db": "this is not a database, just text that is long enough to be read as a header\n" * 20})
case("compare_db_timeout_nan", ["compare", "--baseline", "1", "--candidate", "2", "--db-timeout", "nan"], 2,
     ["--db-timeout"])

# --------------------------------------------------------------- report ----
case("report_format_unknown", ["report", "--db", "r.db", "--format", "pdf", "-o", "x.pdf"], 2, ["--format"])
case("report_db_not_sqlite", ["report", "--db", "r.db", "-o", "out.md"], 3, ["r.db"],
     {"r.db": "not sqlite at all\n" * 100})
case("report_sort_unknown", ["report", "--db", "r.db", "--sort", "nosuch:metric", "-o", "out.md"], 2, ["nosuch"],
     {"r.db": b""})
case("report_db_timeout_negative", ["report", "--db-timeout", "-5"], 2, ["--db-timeout"])
case("report_unknown_option", ["report", "--colour"], 2, ["--colour"])


# ----------------------------------------------------------------- GGUF ----
# Malformed GGUF files (`--model m.gguf`): the container (truncations, huge
# counts and lengths, offsets, types), the metadata a model is made of, and
# the tokenizer in it. Each must be exit 3 naming the file and the key or
# tensor. A small writer (v3, alignment 32), as in tests/fuzz/make_seeds.py.
GGT = {"u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "arr": 9}


def g_str(x):
    x = b(x)
    return struct.pack("<Q", len(x)) + x


def g_val(kind, v):
    if kind in ("u32", "i32"):
        return struct.pack("<I" if kind == "u32" else "<i", v)
    if kind == "f32":
        return struct.pack("<f", v)
    if kind == "bool":
        return struct.pack("<B", v)
    if kind == "str":
        return g_str(v)
    elem, items = v
    return struct.pack("<IQ", GGT[elem], len(items)) + b"".join(g_val(elem, x) for x in items)


def gguf(kvs, tensors, version=3, n_kv=None, n_t=None):
    """kvs [(key, kind, value)], tensors [(name, ne, type, offset or None, raw)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if n_t is None else n_t,
                                len(kvs) if n_kv is None else n_kv)
    for k, kind, v in kvs:
        out += g_str(k) + struct.pack("<I", GGT[kind]) + g_val(kind, v)
    off, blob = 0, b""
    for name, ne, typ, o, raw in tensors:
        out += g_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", typ, off if o is None else o)
        raw += b"\0" * (-len(raw) % 32)
        blob += raw
        off += len(raw)
    out += b"\0" * (-len(out) % 32)
    return out + blob


def f32s(n):
    return struct.pack("<%df" % n, *[((i * 7) % 11 - 5) / 20.0 for i in range(n)])


G_SPM = [("tokenizer.ggml.model", "str", "llama"), ("tokenizer.ggml.pre", "str", "default"),
         ("tokenizer.ggml.tokens", "arr", ("str", ["<unk>", "<s>", "</s>", "\u2581", "a", "\u2581a"])),
         ("tokenizer.ggml.scores", "arr", ("f32", [0, 0, 0, -1, -2, -3])),
         ("tokenizer.ggml.token_type", "arr", ("i32", [2, 3, 3, 1, 1, 1])),
         ("tokenizer.ggml.bos_token_id", "u32", 1), ("tokenizer.ggml.eos_token_id", "u32", 2)]


def g_model(arch="llama", drop=(), extra=(), tensors_extra=(), H=4, F=8, V=6):
    kv = [("general.architecture", "str", arch)] + [(arch + "." + k, t, v) for k, t, v in [
        ("embedding_length", "u32", H), ("block_count", "u32", 1), ("feed_forward_length", "u32", F),
        ("attention.head_count", "u32", 1), ("context_length", "u32", 64),
        ("attention.layer_norm_rms_epsilon", "f32", 1e-6)] + list(extra) if k not in drop]
    ts = [("token_embd.weight", [H, V], 0, None, f32s(H * V)), ("output_norm.weight", [H], 0, None, f32s(H)),
          ("blk.0.attn_norm.weight", [H], 0, None, f32s(H)), ("blk.0.ffn_norm.weight", [H], 0, None, f32s(H))]
    ts += [("blk.0.attn_%s.weight" % x, [H, H], 0, None, f32s(H * H)) for x in ("q", "k", "v", "output")]
    ts += [("blk.0.ffn_gate.weight", [H, F], 0, None, f32s(H * F)), ("blk.0.ffn_up.weight", [H, F], 0, None, f32s(H * F)),
           ("blk.0.ffn_down.weight", [F, H], 0, None, f32s(H * F))]
    return kv + G_SPM, ts + list(tensors_extra)


def gcase(name, data, needles, cmd="logprobs"):
    args = ["--ids", "ids.txt"] if cmd == "logprobs" else ["a a"]
    case("gguf_" + name, [cmd, "--model", "m.gguf", *args], 3, ["m.gguf", *needles],
         {"m.gguf": data, "ids.txt": "1 4 5\n"})


kv, ts = g_model()
good = gguf(kv, ts)
gcase("truncated_header", good[:14], [])
gcase("truncated_in_key", good[:60], [])
gcase("truncated_in_tensor_data", good[:len(good) - 40], ["blk.0.ffn_down.weight"])
gcase("version_unknown", gguf(kv, ts, version=9), ["version"])
gcase("kv_count_huge", gguf(kv, ts, n_kv=1 << 62), [])
gcase("tensor_count_huge", gguf(kv, ts, n_t=1 << 61), [])
gcase("array_count_huge", good.replace(struct.pack("<IQ", 8, 6), struct.pack("<IQ", 8, 1 << 60), 1),
      ["tokenizer.ggml.tokens"])
gcase("string_length_huge", good.replace(g_str("general.architecture"),
                                         struct.pack("<Q", 1 << 50) + b"general.architecture", 1), [])
bad_off = [(n, ne, t, (1 << 40) if n == "blk.0.attn_q.weight" else o, r) for n, ne, t, o, r in ts]
gcase("tensor_offset_outside", gguf(kv, bad_off), ["blk.0.attn_q.weight"])
bad_type = [(n, ne, 99 if n == "blk.0.attn_k.weight" else t, o, r) for n, ne, t, o, r in ts]
gcase("tensor_type_unknown", gguf(kv, bad_type), ["blk.0.attn_k.weight"])
bad_dims = [(n, [4, 1 << 62] if n == "blk.0.attn_v.weight" else ne, t, o, r) for n, ne, t, o, r in ts]
gcase("tensor_dims_huge", gguf(kv, bad_dims), ["blk.0.attn_v.weight"])
gcase("tensor_unknown_name", gguf(kv, ts + [("blk.0.attn_sinks.weight", [4], 0, None, f32s(4))]),
      ["blk.0.attn_sinks.weight"])
kv2, ts2 = g_model(arch="mamba")
gcase("architecture_unknown", gguf(kv2, ts2), ["mamba"])
kv2, ts2 = g_model(drop=("embedding_length",))
gcase("key_missing", gguf(kv2, ts2), ["llama.embedding_length"])
kv2, ts2 = g_model(extra=[("attention.head_count_kv", "u32", 1 << 30)])
gcase("key_out_of_range", gguf(kv2, ts2), ["llama.attention.head_count_kv"])
kv2 = [(k, "str", "x") if k == "llama.block_count" else (k, t, v) for k, t, v in kv]
gcase("key_wrong_type", gguf(kv2, ts), ["llama.block_count"])
kv2, ts2 = g_model(arch="phi3", extra=[("rope.scaling.original_context_length", "u32", 16)],
                   tensors_extra=[("rope_factors_long.weight", [2], 0, None, struct.pack("<2f", 2.0, 4.0))])
gcase("phi3_one_rope_factor", gguf(kv2, ts2), ["rope_factors_short.weight"])
kv2, ts2 = g_model(arch="gemma3")
gcase("gemma3_no_sliding_window", gguf(kv2, ts2), ["gemma3.attention.sliding_window"])
tok_kv = [("general.architecture", "str", "llama")] + G_SPM
gcase("tokenizer_scores_missing", gguf([x for x in tok_kv if x[0] != "tokenizer.ggml.scores"], []),
      ["tokenizer.ggml.scores"], cmd="tokenize")
gcase("tokenizer_scores_nan", gguf([(k, t, ("f32", [0, 0, 0, float("nan"), -2, -3])) if k == "tokenizer.ggml.scores"
                                    else (k, t, v) for k, t, v in tok_kv], []), ["tokenizer.ggml.scores[3]"],
      cmd="tokenize")
gcase("tokenizer_scores_count", gguf([(k, t, ("f32", [0, 0])) if k == "tokenizer.ggml.scores" else (k, t, v)
                                      for k, t, v in tok_kv], []), ["tokenizer.ggml.scores"], cmd="tokenize")
gcase("tokenizer_token_invalid_utf8", gguf([(k, t, ("str", ["<unk>", "<s>", "</s>", b"\xe2\x96", "a", "b"]))
                                            if k == "tokenizer.ggml.tokens" else (k, t, v) for k, t, v in tok_kv], []),
      ["token 3"], cmd="tokenize")
gcase("tokenizer_bos_out_of_range", gguf([(k, t, 77) if k == "tokenizer.ggml.bos_token_id" else (k, t, v)
                                          for k, t, v in tok_kv], []), ["tokenizer.ggml.bos_token_id"], cmd="tokenize")
gcase("tokenizer_model_unknown", gguf([(k, t, "rwkv") if k == "tokenizer.ggml.model" else (k, t, v)
                                       for k, t, v in tok_kv], []), ["rwkv"], cmd="tokenize")


def write():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    names = set()
    for name, args, code, needles, files, fill in CASES:
        assert name not in names, name
        names.add(name)
        d = os.path.join(OUT, name)
        os.makedirs(d)
        with open(os.path.join(d, "args"), "w") as f:
            f.write("".join(a + "\n" for a in args))
        with open(os.path.join(d, "expect"), "w") as f:
            f.write("%d\n" % code + "".join(n + "\n" for n in needles))
        for rel, data in files.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(b(data))
    print(len(CASES), "cases")


write()
