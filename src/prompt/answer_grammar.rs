//! What a well-formed answer to one instance can be, as a byte automaton, for constrained
//! decoding: the task's answer layout (SPEC §2.4: `type: span; ...`, `rel: head, tail; ...`,
//! the EE event list, ...) with labels taken from the instance's own options and spans that
//! occur in its sentence, or `None`. A decoder asks which bytes may come next and keeps only
//! the tokens that stay inside this language, so a model cannot invent a label or a span.
//!
//! Spans are recognised by a suffix automaton of the sentence (exactly its substrings, in at
//! most twice as many states as the sentence has bytes), labels by a trie; both are spliced
//! into one NFA whose states a [`Cursor`] tracks. Working on bytes keeps it exact for any
//! text, whatever a tokenizer does with characters.

use crate::data::TaskLabels;
use crate::ie::{Gold, Record, TaskKind};

use super::render::SINGLE_QUOTE_SUBSTITUTE;

/// The label lists an instance's answer draws from, in the order its task's layout uses
/// them: EE has event types then argument roles, the others one list.
pub fn answer_options(task: TaskKind, labels: &TaskLabels, record: &Record) -> Vec<Vec<String>> {
    let owned = |v: &mut dyn Iterator<Item = &str>| v.map(str::to_string).collect::<Vec<_>>();
    match labels {
        TaskLabels::List(l) => vec![l.clone()],
        TaskLabels::EventPair { types, roles, .. } => {
            vec![owned(&mut types.split(", ")), owned(&mut roles.split(", "))]
        }
        TaskLabels::EventMap(map) => match (task, &record.gold) {
            (TaskKind::Eea, Gold::Events(events)) if events.len() == 1 => {
                vec![map.get(&events[0].kind).cloned().unwrap_or_default()]
            }
            _ => vec![map.keys().cloned().collect()],
        },
    }
}

#[derive(Debug, Default, Clone)]
struct State {
    edges: Vec<(u8, u32)>,
    eps: Vec<u32>,
    accept: bool,
}

/// The answers an instance allows.
#[derive(Debug, Clone)]
pub struct AnswerGrammar {
    states: Vec<State>,
    start: u32,
}

/// Where an answer being generated stands: the NFA states it can be in (closed under empty
/// moves, sorted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(Vec<u32>);

#[derive(Debug, Clone, Copy)]
struct Frag {
    entry: u32,
    exit: u32,
}

#[derive(Default)]
struct Builder {
    states: Vec<State>,
}

impl Builder {
    fn state(&mut self) -> u32 {
        self.states.push(State::default());
        (self.states.len() - 1) as u32
    }

    fn eps(&mut self, from: u32, to: u32) {
        self.states[from as usize].eps.push(to);
    }

    fn edge(&mut self, from: u32, byte: u8, to: u32) {
        self.states[from as usize].edges.push((byte, to));
    }

    fn empty(&mut self) -> Frag {
        let s = self.state();
        Frag { entry: s, exit: s }
    }

    fn lit(&mut self, s: &str) -> Frag {
        let entry = self.state();
        let mut at = entry;
        for &b in s.as_bytes() {
            let next = self.state();
            self.edge(at, b, next);
            at = next;
        }
        Frag { entry, exit: at }
    }

    /// Exactly one of `labels` (a trie, so labels sharing a prefix share states).
    fn one_of(&mut self, labels: &[String]) -> Frag {
        let entry = self.state();
        let exit = self.state();
        for label in labels.iter().filter(|l| !l.is_empty()) {
            let mut at = entry;
            for &b in label.as_bytes() {
                let found = self.states[at as usize]
                    .edges
                    .iter()
                    .find(|(e, _)| *e == b)
                    .map(|&(_, t)| t);
                at = match found {
                    Some(t) => t,
                    None => {
                        let t = self.state();
                        self.edge(at, b, t);
                        t
                    }
                };
            }
            self.eps(at, exit);
        }
        Frag { entry, exit }
    }

    /// Any non-empty substring of `text`.
    fn substring(&mut self, text: &str) -> Frag {
        let sam = SuffixAutomaton::new(text.as_bytes());
        let base = self.states.len() as u32;
        for _ in 0..sam.next.len() {
            self.state();
        }
        let exit = self.state();
        for (i, next) in sam.next.iter().enumerate() {
            for &(b, t) in next {
                self.edge(base + i as u32, b, base + t);
            }
            if i != 0 {
                self.eps(base + i as u32, exit);
            }
        }
        Frag { entry: base, exit }
    }

    fn seq(&mut self, parts: &[Frag]) -> Frag {
        for w in parts.windows(2) {
            self.eps(w[0].exit, w[1].entry);
        }
        Frag {
            entry: parts[0].entry,
            exit: parts[parts.len() - 1].exit,
        }
    }

    fn alt(&mut self, parts: &[Frag]) -> Frag {
        let entry = self.state();
        let exit = self.state();
        for p in parts {
            self.eps(entry, p.entry);
            self.eps(p.exit, exit);
        }
        Frag { entry, exit }
    }

    /// `item (sep item)*`.
    fn list(&mut self, item: Frag, sep: &str) -> Frag {
        let sep = self.lit(sep);
        self.eps(item.exit, sep.entry);
        self.eps(sep.exit, item.entry);
        item
    }
}

/// The suffix automaton of a byte string: a DFA over exactly its substrings.
struct SuffixAutomaton {
    next: Vec<Vec<(u8, u32)>>,
}

impl SuffixAutomaton {
    fn new(s: &[u8]) -> SuffixAutomaton {
        let mut next: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut link: Vec<i64> = vec![-1];
        let mut len: Vec<usize> = vec![0];
        let go = |next: &Vec<Vec<(u8, u32)>>, s: usize, b: u8| {
            next[s]
                .iter()
                .find(|(e, _)| *e == b)
                .map(|&(_, t)| t as usize)
        };
        let mut last = 0usize;
        for &b in s {
            let cur = next.len();
            next.push(Vec::new());
            link.push(0);
            len.push(len[last] + 1);
            let mut p = last as i64;
            while p >= 0 && go(&next, p as usize, b).is_none() {
                next[p as usize].push((b, cur as u32));
                p = link[p as usize];
            }
            if p >= 0 {
                let pu = p as usize;
                let q = go(&next, pu, b).expect("the loop stopped on an edge");
                if len[pu] + 1 == len[q] {
                    link[cur] = q as i64;
                } else {
                    let clone = next.len();
                    next.push(next[q].clone());
                    link.push(link[q]);
                    len.push(len[pu] + 1);
                    let mut p = p;
                    while p >= 0 && go(&next, p as usize, b) == Some(q) {
                        for e in next[p as usize].iter_mut().filter(|e| e.0 == b) {
                            e.1 = clone as u32;
                        }
                        p = link[p as usize];
                    }
                    link[q] = clone as i64;
                    link[cur] = clone as i64;
                }
            }
            last = cur;
        }
        SuffixAutomaton { next }
    }
}

impl AnswerGrammar {
    /// The answers an instance of `task` allows, with `options` from [`answer_options`].
    pub fn new(task: TaskKind, options: &[Vec<String>], sentence: &str) -> AnswerGrammar {
        let mut b = Builder::default();
        let none: &[String] = &[];
        let labels = |i: usize| options.get(i).map(Vec::as_slice).unwrap_or(none);
        // The EE loaders put a placeholder for apostrophes in triggers and event types.
        let quoted = |s: &str| s.replace('\'', SINGLE_QUOTE_SUBSTITUTE);
        let quoted_labels = |i: usize| labels(i).iter().map(|l| quoted(l)).collect::<Vec<_>>();
        let body = match task {
            TaskKind::Ner | TaskKind::Et => {
                let parts = [b.one_of(labels(0)), b.lit(": "), b.substring(sentence)];
                let item = b.seq(&parts);
                b.list(item, "; ")
            }
            TaskKind::Es => {
                let item = b.substring(sentence);
                b.list(item, ", ")
            }
            TaskKind::Re | TaskKind::Epr => {
                let parts = [
                    b.one_of(labels(0)),
                    b.lit(": "),
                    b.substring(sentence),
                    b.lit(", "),
                    b.substring(sentence),
                ];
                let item = b.seq(&parts);
                b.list(item, "; ")
            }
            TaskKind::Ep => {
                let parts = [b.substring(sentence), b.lit(", "), b.substring(sentence)];
                let item = b.seq(&parts);
                b.list(item, "; ")
            }
            TaskKind::Eet => {
                let parts = [
                    b.one_of(&quoted_labels(0)),
                    b.lit(": "),
                    b.substring(&quoted(sentence)),
                ];
                let item = b.seq(&parts);
                b.list(item, "; ")
            }
            TaskKind::Eea => {
                let parts = [b.substring(sentence), b.lit(": "), b.one_of(labels(0))];
                let item = b.seq(&parts);
                b.list(item, "; ")
            }
            TaskKind::Ee => {
                let arg_parts = [
                    b.lit(" "),
                    b.substring(sentence),
                    b.lit(": "),
                    b.one_of(labels(1)),
                ];
                let arg = b.seq(&arg_parts);
                let args = b.list(arg, ",");
                let no_args = b.lit("None");
                let arguments = b.alt(&[no_args, args]);
                let parts = [
                    b.lit(" ( "),
                    b.one_of(&quoted_labels(0)),
                    b.lit(": "),
                    b.substring(&quoted(sentence)),
                    b.lit(", "),
                    arguments,
                    b.lit(") "),
                ];
                let event = b.seq(&parts);
                b.list(event, ",")
            }
        };
        let none = b.lit("None");
        let answer = b.alt(&[none, body]);
        let (space, nothing) = (b.lit(" "), b.empty());
        let lead = b.alt(&[space, nothing]);
        let whole = b.seq(&[lead, answer]);
        b.states[whole.exit as usize].accept = true;
        AnswerGrammar {
            states: b.states,
            start: whole.entry,
        }
    }

    pub fn start(&self) -> Cursor {
        self.closed(vec![self.start])
    }

    fn closed(&self, mut stack: Vec<u32>) -> Cursor {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        while let Some(s) = stack.pop() {
            if seen.insert(s) {
                out.push(s);
                stack.extend_from_slice(&self.states[s as usize].eps);
            }
        }
        out.sort_unstable();
        Cursor(out)
    }

    /// The cursor after one more byte, or `None` if the answer cannot go on that way.
    pub fn step(&self, at: &Cursor, byte: u8) -> Option<Cursor> {
        let moved: Vec<u32> =
            at.0.iter()
                .flat_map(|&s| self.states[s as usize].edges.iter())
                .filter(|(b, _)| *b == byte)
                .map(|&(_, t)| t)
                .collect();
        (!moved.is_empty()).then(|| self.closed(moved))
    }

    /// The cursor after `bytes`, or `None` if they leave the language.
    pub fn walk(&self, at: &Cursor, bytes: &[u8]) -> Option<Cursor> {
        bytes.iter().try_fold(at.clone(), |c, &b| self.step(&c, b))
    }

    /// The bytes that can come next, sorted.
    pub fn next_bytes(&self, at: &Cursor) -> Vec<u8> {
        let mut out: Vec<u8> =
            at.0.iter()
                .flat_map(|&s| self.states[s as usize].edges.iter().map(|e| e.0))
                .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether the answer may end here.
    pub fn accepts(&self, at: &Cursor) -> bool {
        at.0.iter().any(|&s| self.states[s as usize].accept)
    }

    /// Whether `answer` is a whole answer of this grammar.
    pub fn allows(&self, answer: &str) -> bool {
        self.walk(&self.start(), answer.as_bytes())
            .is_some_and(|c| self.accepts(&c))
    }

    /// How many NFA states it has (its size grows with the sentence and the options).
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[&str]) -> Vec<String> {
        v.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn suffix_automaton_knows_exactly_the_substrings() {
        let text = "abcbc a";
        let g = AnswerGrammar::new(TaskKind::Es, &[], text);
        for i in 0..text.len() {
            for j in i + 1..=text.len() {
                assert!(g.allows(&text[i..j]), "{:?}", &text[i..j]);
            }
        }
        for s in ["cc", "abb", "ba", "a a", "aa", ""] {
            assert!(!g.allows(s), "{s:?}");
        }
    }

    #[test]
    fn ner_answers_use_the_options_and_the_sentence() {
        let sentence = "Marie Curie joined the University of Paris in 1906 .";
        let g = AnswerGrammar::new(
            TaskKind::Ner,
            &[l(&["person", "organization", "location"])],
            sentence,
        );
        for ok in [
            " person: Marie Curie; organization: University of Paris",
            "person: Curie",
            " None",
            "None",
            " location: Paris; location: Paris",
        ] {
            assert!(g.allows(ok), "{ok:?}");
        }
        for bad in [
            " person: Pierre Curie",
            " people: Marie Curie",
            " person: Marie Curie;",
            " person: ",
            "person Marie",
            " none",
        ] {
            assert!(!g.allows(bad), "{bad:?}");
        }
        // Mid-answer: after a label and ": ", any sentence byte may follow.
        let c = g.walk(&g.start(), b" person: ").unwrap();
        assert!(!g.accepts(&c));
        assert!(g.next_bytes(&c).contains(&b'M'));
        assert!(!g.next_bytes(&c).contains(&b'z'));
    }

    #[test]
    fn every_layout_takes_the_spec_examples() {
        let sentence =
            "Marie Curie worked for the University of Paris , which is located in France .";
        let rels = l(&["work for", "located in", "live in"]);
        let re = AnswerGrammar::new(TaskKind::Re, std::slice::from_ref(&rels), sentence);
        assert!(re.allows(
            " work for: Marie Curie, University of Paris; located in: University of Paris, France"
        ));
        assert!(!re.allows(" work for: Marie Curie"));
        let ep = AnswerGrammar::new(TaskKind::Ep, &[rels], sentence);
        assert!(ep.allows(" Marie Curie, University of Paris; University of Paris, France"));
        let ev = "The rebels fired missiles at the village .";
        let ee = AnswerGrammar::new(
            TaskKind::Ee,
            &[
                l(&["attack", "die"]),
                l(&["attacker", "target", "instrument"]),
            ],
            ev,
        );
        assert!(ee.allows(" ( attack: fired,  rebels: attacker, missiles: instrument) "));
        assert!(ee.allows(
            " ( attack: fired,  rebels: attacker, missiles: instrument) , ( die: fired, None) "
        ));
        assert!(!ee.allows(" ( attack: fired,  rebels: victim) "));
        let eet = AnswerGrammar::new(TaskKind::Eet, &[l(&["attack", "die"])], ev);
        assert!(eet.allows(" attack: fired"));
        let eea = AnswerGrammar::new(TaskKind::Eea, &[l(&["attacker", "target"])], ev);
        assert!(eea.allows(" rebels: attacker; the village: target"));
        assert!(!eea.allows(" attacker: rebels"));
    }

    #[test]
    fn triggers_with_apostrophes_use_the_loaders_placeholder() {
        let g = AnswerGrammar::new(TaskKind::Eet, &[l(&["it's"])], "don't go");
        assert!(g.allows(" it#$%#s: don#$%#t"));
        assert!(!g.allows(" it's: don't"));
    }

    #[test]
    fn no_options_leave_only_none() {
        let g = AnswerGrammar::new(TaskKind::Ner, &[], "a b");
        assert!(g.allows(" None"));
        assert!(!g.allows(" x: a"));
    }

    #[test]
    fn a_long_sentence_stays_linear() {
        let sentence = "word ".repeat(2000) + "ünïcödé";
        let g = AnswerGrammar::new(TaskKind::Re, &[l(&["r"])], &sentence);
        assert!(g.len() < 4 * 2 * sentence.len() + 100, "{}", g.len());
        assert!(g.allows(" r: word word, ünïcödé"));
    }
}
