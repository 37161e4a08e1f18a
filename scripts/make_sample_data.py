#!/usr/bin/env python3
"""Writes sample-data/ from the hand-written sentences below.

Markup: NER `[span|type]`; RE `[span|id]` plus relation triples over ids; EE `{trigger|type}`
and `[argument|role]`. Offsets (`pos`) are computed here, end-exclusive, in code points, as in
IE INSTRUCTIONS. Re-run after editing: python3 scripts/make_sample_data.py
"""
import json
import os
import re
import shutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample-data")
IE = os.path.join(ROOT, "IE_INSTRUCTIONS")
MARK = re.compile(r"\[([^\[\]|]+)\|([^\[\]]+)\]|\{([^{}|]+)\|([^{}]+)\}")


def strip(text):
    """Returns the plain sentence and a list of (span, tag, start, end, kind)."""
    out, spans, last = "", [], 0
    for m in MARK.finditer(text):
        out += text[last:m.start()]
        span, tag, kind = (m.group(1), m.group(2), "arg") if m.group(1) else (m.group(3), m.group(4), "trigger")
        spans.append((span, tag, len(out), len(out) + len(span), kind))
        out += span
        last = m.end()
    return out + text[last:], spans


def ner(text):
    s, spans = strip(text)
    return {"sentence": s, "entities": [{"name": n, "type": t, "pos": [a, b]} for n, t, a, b, _ in spans]}


def rel(text, triples):
    s, spans = strip(text)
    ents = {t: {"name": n, "type": "", "pos": [a, b]} for n, t, a, b, _ in spans}
    return {"sentence": s, "relations": [{"head": ents[h], "type": r, "tail": ents[t]} for h, r, t in triples]}


def event(text):
    s, spans = strip(text)
    trig = [x for x in spans if x[4] == "trigger"]
    assert len(trig) == 1, text
    n, t, a, b, _ = trig[0]
    args = [{"name": an, "role": ar, "pos": [aa, ab]} for an, ar, aa, ab, k in spans if k == "arg"]
    return {"sentence": s, "events": [{"trigger": n, "type": t, "pos": [a, b], "arguments": args}]}


def write(task, name, files):
    d = os.path.join(IE, task, name)
    os.makedirs(d, exist_ok=True)
    for fname, content in files.items():
        with open(os.path.join(d, fname), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, indent=1)
            f.write("\n")


TINY_CONLL = {
    "train": [
        "[Marie Curie|person] joined the [University of Paris|organization] in 1906 .",
        "[Angela Merkel|person] met [Emmanuel Macron|person] in [Berlin|location] on Monday .",
        "Shares of [Siemens|organization] rose 3 percent in [Frankfurt|location] .",
        "It rained all day .",
        "The [World Cup|else] final was played in [Qatar|location] .",
        "[Toyota|organization] opened a plant near [Lyon|location] .",
        "[Lionel Messi|person] signed for [Inter Miami|organization] .",
        "Officials in [Nairobi|location] praised the [Olympic|else] team .",
        "The report came from [Reuters|organization] in [London|location] .",
        "Nobody answered the phone .",
        "[Ada Lovelace|person] wrote notes on the [Analytical Engine|NA] .",
        "[Greenpeace|organization] protested outside the [Bundestag|organization] .",
    ],
    "dev": [
        "[Kofi Annan|person] visited [Ghana|location] last year .",
        "The [Tour de France|else] passes through [Grenoble|location] .",
        "Markets were quiet on Friday .",
        "[Nokia|organization] hired [Pekka Lundmark|person] .",
    ],
    "test": [
        "[Serena Williams|person] won in [Melbourne|location] .",
        "[Airbus|organization] delivered jets to [Lufthansa|organization] .",
        "The [Nobel Prize|else] ceremony is held in [Stockholm|location] .",
        "Prices fell sharply .",
        "[Jacinda Ardern|person] spoke in [Wellington|location] about [Brexit|else] .",
        "[UNICEF|organization] sent aid to [Yemen|location] .",
    ],
}

BIO_MINI = {
    "train": [
        "[Aspirin|chemical] reduced the risk of [stroke|disease] in older patients .",
        "Patients with [type 2 diabetes|disease] received [metformin|chemical] .",
        "[Cisplatin|chemical] induced [nephrotoxicity|disease] in rats .",
        "No adverse effects were observed .",
        "[Ibuprofen|chemical] is used to treat [arthritis|disease] .",
        "Chronic [hepatitis B|disease] was treated with [tenofovir|chemical] .",
        "[Lithium|chemical] levels were monitored weekly .",
        "The cohort included 120 adults with [asthma|disease] .",
        "[Warfarin|chemical] increased bleeding in patients with [atrial fibrillation|disease] .",
        "Samples were stored at minus 80 degrees .",
    ],
    "dev": [
        "[Insulin|chemical] lowered glucose in [diabetes|disease] .",
        "[Paracetamol|chemical] overdose causes [liver failure|disease] .",
        "Follow-up lasted two years .",
        "[Tamoxifen|chemical] is given for [breast cancer|disease] .",
    ],
    "test": [
        "[Haloperidol|chemical] can cause [tardive dyskinesia|disease] .",
        "[Penicillin|chemical] cured the [pneumonia|disease] .",
        "The trial enrolled 40 volunteers .",
        "[Statins|chemical] reduce [heart disease|disease] risk .",
        "[Gentamicin|chemical] was linked to [hearing loss|disease] .",
        "Blood pressure was measured twice .",
    ],
}

# No dev split: the missing-split case.
MOVIE_MINI = {
    "train": [
        "show me [comedies|genre] from [1995|year]",
        "who directed [Jaws|title]",
        "movies starring [Tom Hanks|actor]",
        "find a [horror|genre] film by [John Carpenter|director]",
        "what year did [Titanic|title] come out",
        "list films with [Meryl Streep|actor] from the [1980s|year]",
        "any good [westerns|genre]",
        "did [Greta Gerwig|director] make [Lady Bird|title]",
    ],
    "test": [
        "show [thrillers|genre] with [Denzel Washington|actor]",
        "who directed [Alien|title]",
        "films by [Agnes Varda|director] from [1962|year]",
        "recommend something funny",
        "[animated|genre] movies from [2001|year]",
    ],
}

CONLL04_MINI = {
    "train": [
        ("[Marie Curie|a] worked for the [University of Paris|b] , which is located in [France|c] .",
         [("a", "work for", "b"), ("b", "located in", "c")]),
        ("[John Smith|a] , who lives in [Boston|b] , works for [Acme Corp|c] .",
         [("a", "live in", "b"), ("a", "work for", "c")]),
        ("[Oswald|a] shot [Kennedy|b] in [Dallas|c] .", [("a", "kill", "b")]),
        ("[Microsoft|a] , based in [Redmond|b] , released an update .", [("a", "organization based in", "b")]),
        ("[Lyon|a] is a city in [France|b] .", [("a", "located in", "b")]),
        ("[Ana Lopez|a] moved to [Madrid|b] to join [Telefonica|c] .",
         [("a", "live in", "b"), ("a", "work for", "c"), ("c", "organization based in", "b")]),
        ("[Booth|a] assassinated [Lincoln|b] .", [("a", "kill", "b")]),
        ("[Oxfam|a] has its headquarters in [Oxford|b] .", [("a", "organization based in", "b")]),
    ],
    "dev": [
        ("[Pierre Dupont|a] works for [Renault|b] .", [("a", "work for", "b")]),
        ("[Kyoto|a] lies in [Japan|b] .", [("a", "located in", "b")]),
        ("[Sam Lee|a] lives in [Seattle|b] .", [("a", "live in", "b")]),
    ],
    "test": [
        ("[Ruth Park|a] works for the [BBC|b] in [London|c] .", [("a", "work for", "b"), ("b", "organization based in", "c")]),
        ("[Brutus|a] killed [Caesar|b] in [Rome|c] .", [("a", "kill", "b")]),
        ("[Nice|a] is located in [France|b] .", [("a", "located in", "b")]),
        ("[Omar Haddad|a] lives in [Cairo|b] .", [("a", "live in", "b")]),
        ("[Siemens|a] is based in [Munich|b] .", [("a", "organization based in", "b")]),
    ],
}

# Relation classification turned extraction, with an NA class, as in kbp37 / semval-RE.
KBP_MINI = {
    "train": [
        ("[Steve Jobs|a] founded [Apple|b] with Wozniak .", [("b", "founded by", "a")]),
        ("[Barack Obama|a] was born in [Honolulu|b] .", [("a", "city of birth", "b")]),
        ("[Michelle|a] met [Chicago|b] friends for dinner .", [("a", "NA", "b")]),
        ("[Google|a] is headquartered in [Mountain View|b] .", [("a", "city of headquarters", "b")]),
        ("[Bill Gates|a] co-founded [Microsoft|b] .", [("b", "founded by", "a")]),
        ("[Frida Kahlo|a] was born in [Coyoacan|b] .", [("a", "city of birth", "b")]),
        ("[IBM|a] shares fell in [Tokyo|b] trading .", [("a", "NA", "b")]),
        ("[Nestle|a] is headquartered in [Vevey|b] .", [("a", "city of headquarters", "b")]),
    ],
    "dev": [
        ("[Larry Page|a] founded [Google|b] .", [("b", "founded by", "a")]),
        ("[Paris|a] fans cheered [Neymar|b] .", [("b", "NA", "a")]),
        ("[Mozart|a] was born in [Salzburg|b] .", [("a", "city of birth", "b")]),
    ],
    "test": [
        ("[Jeff Bezos|a] founded [Amazon|b] .", [("b", "founded by", "a")]),
        ("[Chopin|a] was born in [Zelazowa Wola|b] .", [("a", "city of birth", "b")]),
        ("[Adidas|a] is headquartered in [Herzogenaurach|b] .", [("a", "city of headquarters", "b")]),
        ("[Rome|a] welcomed [Pope Francis|b] .", [("b", "NA", "a")]),
        ("[Intel|a] hired engineers in [Haifa|b] .", [("a", "NA", "b")]),
    ],
}

ACE_MINI_LABELS = {
    "attack": ["attacker", "target", "instrument", "place"],
    "die": ["victim", "agent", "place"],
    "transport": ["artifact", "origin", "destination"],
    "elect": ["person", "entity", "place"],
}
ACE_MINI = {
    "train": [
        "[The rebels|attacker] {fired|attack} [missiles|instrument] at [the village|target] .",
        "[Two soldiers|victim] were {killed|die} in [Kabul|place] .",
        "[The army|artifact] {moved|transport} from [Basra|origin] to [Baghdad|destination] .",
        "[Voters|entity] {elected|elect} [Maria Silva|person] mayor .",
        "[Gunmen|attacker] {attacked|attack} [a convoy|target] near [Mosul|place] .",
        "[The journalist|victim] {died|die} last week .",
        "[Refugees|artifact] were {flown|transport} to [Rome|destination] .",
        "[Parliament|entity] {chose|elect} [a new speaker|person] .",
    ],
    "dev": [
        "[Protesters|attacker] {stormed|attack} [the embassy|target] .",
        "[The pilot|victim] {perished|die} in the crash .",
        "[Supplies|artifact] {arrived|transport} in [Gaza|destination] .",
    ],
    "test": [
        "[Militants|attacker] {bombed|attack} [a bridge|target] in [Aleppo|place] .",
        "[Three civilians|victim] were {killed|die} .",
        "[The troops|artifact] {returned|transport} to [Fort Bragg|destination] .",
        "[Citizens|entity] {voted|elect} [Lee|person] into office .",
        "[Pirates|attacker] {seized|attack} [a tanker|target] .",
    ],
}

CYBER_MINI_LABELS = {
    "phishing": ["attacker", "victim", "tool", "time"],
    "data breach": ["victim", "compromised data", "number of victim", "time"],
    "ransom": ["attacker", "victim", "price", "payment method"],
}
CYBER_MINI = {
    "train": [
        "[Scammers|attacker] sent {phishing|phishing} emails to [bank customers|victim] .",
        "[Hackers|attacker] {demanded|ransom} [2 bitcoin|price] from [the hospital|victim] .",
        "A {breach|data breach} at [Equifax|victim] exposed [credit records|compromised data] .",
        "[Employees|victim] were {lured|phishing} with [fake invoices|tool] in [March|time] .",
        "[The gang|attacker] asked for [a ransom|price] in [Monero|payment method] after it {encrypted|ransom} files .",
        "[Names and emails|compromised data] of [3 million users|number of victim] {leaked|data breach} .",
        "[Attackers|attacker] {impersonated|phishing} [the CEO|tool] .",
        "[The city|victim] refused to {pay|ransom} .",
    ],
    "dev": [
        "[Students|victim] received {spoofed|phishing} login pages .",
        "A {leak|data breach} at [the retailer|victim] exposed [card numbers|compromised data] .",
        "[Criminals|attacker] {extorted|ransom} [the school|victim] .",
    ],
    "test": [
        "[Fraudsters|attacker] {phished|phishing} [retirees|victim] by phone .",
        "The {breach|data breach} affected [500 patients|number of victim] in [May|time] .",
        "[REvil|attacker] {demanded|ransom} [$5 million|price] from [Kaseya|victim] .",
        "[Staff|victim] clicked a {malicious link|phishing} .",
        "[Passwords|compromised data] were {stolen|data breach} from [the forum|victim] .",
    ],
}


def main():
    if os.path.isdir(IE):
        shutil.rmtree(IE)
    write("NER", "Tiny CoNLL", {**{f"{k}.json": [ner(x) for x in v] for k, v in TINY_CONLL.items()},
                                "labels.json": ["person", "organization", "location", "else"]})
    bio = {f"{k}.json": [ner(x) for x in v] for k, v in BIO_MINI.items()}
    # One deliberately wrong offset: `ie-bench datasets` shows how validation reports it.
    bio["train.json"][0]["entities"][1]["pos"] = [33, 40]
    write("NER", "bio-mini", {**bio, "labels.json": ["disease", "chemical"]})
    write("NER", "movie-mini", {**{f"{k}.json": [ner(x) for x in v] for k, v in MOVIE_MINI.items()},
                                "labels.json": ["actor", "director", "genre", "title", "year"]})
    write("RE", "conll04-mini", {**{f"{k}.json": [rel(*x) for x in v] for k, v in CONLL04_MINI.items()},
                                 "labels.json": ["work for", "located in", "live in", "organization based in", "kill"]})
    write("RE", "kbp-mini", {**{f"{k}.json": [rel(*x) for x in v] for k, v in KBP_MINI.items()},
                             "labels.json": ["founded by", "city of birth", "NA", "city of headquarters"]})

    def ee_pair(labels):
        roles = []
        for rs in labels.values():
            roles += [r for r in rs if r not in roles]
        return [", ".join(labels), ", ".join(roles)]

    # Release layout: EET/EEA label maps beside the EE labels.
    ace = {f"{k}.json": [event(x) for x in v] for k, v in ACE_MINI.items()}
    write("EE", "ace-mini", {**ace, "labels.json": ee_pair(ACE_MINI_LABELS),
                             "labels_eet.json": ACE_MINI_LABELS, "labels_eea.json": ACE_MINI_LABELS})
    # Paper layout (SPEC 1.1): physical EET/EEA copies with their own labels.json maps.
    cyber = {f"{k}.json": [event(x) for x in v] for k, v in CYBER_MINI.items()}
    write("EE", "cyber-mini", {**cyber, "labels.json": ee_pair(CYBER_MINI_LABELS)})
    for aux in ("EET", "EEA"):
        write(aux, "cyber-mini", {**cyber, "labels.json": CYBER_MINI_LABELS})
    configs()


def entries(names, strategy="random"):
    return [{"sampling strategy": strategy, "dataset name": n} for n in names]


def configs():
    """A supervised and a zero-shot setup over the sample sets, shaped like SPEC 1.4."""
    ner, re_, ee = ["Tiny CoNLL", "bio-mini", "movie-mini"], ["conll04-mini", "kbp-mini"], ["ace-mini", "cyber-mini"]
    with_dev = ["Tiny CoNLL", "bio-mini"]  # movie-mini has no dev split
    supervised = {
        "train": {"NER": entries(ner), "ES": entries(ner), "ET": entries(ner), "RE": entries(re_),
                  "EP": entries(re_), "EPR": entries(re_), "EE": entries(ee), "EET": entries(ee), "EEA": entries(ee)},
        "dev": {"RE": entries(re_), "EP": entries(re_), "EPR": entries(re_), "NER": entries(with_dev),
                "ES": entries(with_dev), "ET": entries(with_dev), "EEA": entries(ee, "full"), "EET": entries(ee, "full")},
        "test": {"RE": entries(re_, "full"), "NER": entries(ner, "full"), "EEA": entries(ee, "full"),
                 "EET": entries(ee, "full")},
    }
    seen_ner, seen_re = ["Tiny CoNLL", "bio-mini"], ["kbp-mini"]
    zs_train = {"NER": entries(seen_ner), "ES": entries(seen_ner), "ET": entries(seen_ner),
                "RE": entries(seen_re), "EP": entries(seen_re), "EPR": entries(seen_re)}
    zeroshot = {"train": zs_train, "dev": zs_train,
                "test": {"RE": entries(["conll04-mini"], "full"), "NER": entries(["movie-mini"], "full")}}
    for name, cfg in (("supervised", supervised), ("zeroshot", zeroshot)):
        d = os.path.join(ROOT, "configs", name)
        os.makedirs(d, exist_ok=True)
        for split, content in cfg.items():
            with open(os.path.join(d, f"{split}_tasks.json"), "w", encoding="utf-8") as f:
                json.dump(content, f, indent=2)
                f.write("\n")
    # The official instruction bank, as built into ie-bench.
    shutil.copy(os.path.join(ROOT, "..", "src", "data", "builtin", "instruction_config.json"),
                os.path.join(ROOT, "configs", "instruction_config.json"))


if __name__ == "__main__":
    main()
