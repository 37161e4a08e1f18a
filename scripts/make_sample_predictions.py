#!/usr/bin/env python3
"""Writes sample-data/predictions/supervised-test.jsonl: predictions for the sample supervised
test split in the official `predict_eval_predictions.jsonl` format, as a small model might
produce them (hand-written mistakes below; every other instance is predicted correctly).

    cargo run -- prompts --split test --out /tmp/sample-test.jsonl
    python3 scripts/make_sample_predictions.py /tmp/sample-test.jsonl
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample-data")

# (Task, Dataset, id) -> generated text.
MISTAKES = {
    ("NER", "Tiny CoNLL", "0"): "Person: Serena Williams; location : Melbourne",           # case/spacing: still right
    ("NER", "Tiny CoNLL", "1"): "organization: Airbus; location: Lufthansa",               # wrong type
    ("NER", "Tiny CoNLL", "2"): "else: Nobel; location: Stockholm",                        # wrong boundary
    ("NER", "Tiny CoNLL", "3"): "",                                                         # empty
    ("NER", "Tiny CoNLL", "4"): "person: Jacinda Ardern; location: Wellington",            # missing
    ("NER", "bio-mini", "1"): "chemical: Penicillin; disease: pneumonia; disease: fever",  # span not in text
    ("NER", "bio-mini", "2"): "None",
    ("NER", "bio-mini", "4"): "drug: Gentamicin; disease: hearing loss",                   # label not in options
    ("NER", "movie-mini", "0"): "genre: thrillers; actor: Denzel Washington;",             # trailing ;
    ("NER", "movie-mini", "2"): "director: Agnes Varda; director: Agnes Varda; director: Agnes Varda",  # repetition
    ("NER", "movie-mini", "3"): "genre: funny",                                            # spurious
    ("RE", "conll04-mini", "0"): "work for: Ruth Park, BBC",                                # missing
    ("RE", "conll04-mini", "1"): "kill: Caesar, Brutus",                                    # direction
    ("RE", "kbp-mini", "3"): "None",                                                        # gold NA is unreachable
    ("RE", "kbp-mini", "4"): "city of headquarters: Intel, Haifa",                          # spurious
    ("EET", "ace-mini", "3"): "elect: voted into office",                                   # boundary
    ("EET", "cyber-mini", "3"): "phishing: clicked",                                        # wrong trigger
    ("EEA", "ace-mini", "0"): "Militants: attacker; bridge: target; Aleppo: place",         # boundary
    ("EEA", "cyber-mini", "2"): "REvil: attacker; $5 million: price; Kaseya: victim; Kaseya: victim; Kaseya: vic",  # truncated
}


def main(prompts_path):
    out_dir = os.path.join(ROOT, "predictions")
    os.makedirs(out_dir, exist_ok=True)
    lines = []
    for raw in open(prompts_path, encoding="utf-8"):
        p = json.loads(raw)
        test = json.load(open(os.path.join(ROOT, "IE_INSTRUCTIONS", p["Task"], p["Dataset"], "test.json"), encoding="utf-8")) \
            if os.path.isdir(os.path.join(ROOT, "IE_INSTRUCTIONS", p["Task"], p["Dataset"])) else \
            json.load(open(os.path.join(ROOT, "IE_INSTRUCTIONS", {"EET": "EE", "EEA": "EE"}.get(p["Task"], p["Task"]), p["Dataset"], "test.json"), encoding="utf-8"))
        key = (p["Task"], p["Dataset"], p["id"])
        lines.append({
            "Task": p["Task"],
            "Dataset": p["Dataset"],
            "Instance": {"id": p["id"], "sentence": test[int(p["id"])]["sentence"], "label": p["target"],
                         "instruction": p["source"], "ground_truth": p["ground_truth"]},
            "Prediction": MISTAKES.get(key, p["target"].strip()),
        })
    with open(os.path.join(out_dir, "supervised-test.jsonl"), "w", encoding="utf-8") as f:
        for l in lines:
            f.write(json.dumps(l, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
