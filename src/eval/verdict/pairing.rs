//! Pairing a line's unmatched predictions with the gold items they were trying to be, and
//! finding many spans in a text at once: indexed, so a line with thousands of items stays
//! linear where comparing every pair took seconds.

use std::collections::HashMap;

use super::{ErrorKind, Item};

/// Words that make two spans overlap when they share one: longer than two characters.
fn overlap_words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', ',']).filter(|w| w.chars().count() > 2)
}

/// Which non-empty `needles` occur in each of `haystacks`: the needle indices per haystack,
/// ascending. One automaton over the needles keeps this linear in the text plus the matches,
/// where a `contains` per pair made verdicts quadratic on long lines.
pub(super) fn occurrences(needles: &[&str], haystacks: &[&str]) -> Vec<Vec<usize>> {
    let plain = |hay: &str| -> Vec<usize> {
        (0..needles.len())
            .filter(|&n| !needles[n].is_empty() && hay.contains(needles[n]))
            .collect()
    };
    // Small inputs (almost every line) are cheaper without building an automaton.
    if needles.len().saturating_mul(haystacks.len()) <= 256 {
        return haystacks.iter().map(|h| plain(h)).collect();
    }
    let mut distinct: Vec<&str> = needles.iter().copied().filter(|n| !n.is_empty()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let Ok(ac) = aho_corasick::AhoCorasick::new(&distinct) else {
        // Too many patterns for an automaton: the plain search is still right.
        return haystacks.iter().map(|h| plain(h)).collect();
    };
    let mut owners: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in needles.iter().enumerate() {
        owners.entry(n).or_default().push(i);
    }
    haystacks
        .iter()
        .map(|hay| {
            let mut found: Vec<usize> = ac
                .find_overlapping_iter(*hay)
                .map(|m| m.pattern().as_usize())
                .collect();
            found.sort_unstable();
            found.dedup();
            let mut hits: Vec<usize> = found
                .into_iter()
                .flat_map(|d| owners[distinct[d]].iter().copied())
                .collect();
            hits.sort_unstable();
            hits
        })
        .collect()
}

/// Gold indices in ascending order with a cursor past the ones already matched: matching only
/// ever uses items up, so each list is walked once over a whole verdict.
#[derive(Default)]
struct Candidates {
    golds: Vec<usize>,
    next: usize,
}

impl Candidates {
    /// The first unmatched gold in the list that `fits`.
    fn first(&mut self, used: &[bool], fits: impl Fn(usize) -> bool) -> Option<usize> {
        while self.next < self.golds.len() && used[self.golds[self.next]] {
            self.next += 1;
        }
        self.golds[self.next..]
            .iter()
            .copied()
            .find(|&g| !used[g] && fits(g))
    }
}

/// Pairs each unmatched prediction, in order, with the first unmatched gold item it was
/// trying to be: the same span under another label (`WrongType`, if the label is an option),
/// or the same label over an overlapping span (`WrongBoundary`). Spans overlap when one
/// contains the other or they share a word of three or more characters. Indexed by span, by
/// (label, word) and by containment, so a line with thousands of items stays fast.
pub(super) fn near_misses(
    gold: &[Item],
    pred: &[Item],
    gold_used: &mut [bool],
    pred_used: &mut [bool],
    in_options: impl Fn(&Option<String>) -> bool,
) -> Vec<(usize, usize, ErrorKind)> {
    let mut by_span: HashMap<&str, Candidates> = HashMap::new();
    let mut by_word: HashMap<(Option<&str>, &str), Candidates> = HashMap::new();
    for (g, item) in gold.iter().enumerate() {
        by_span.entry(item.span.as_str()).or_default().golds.push(g);
        let mut words: Vec<&str> = overlap_words(&item.span).collect();
        words.sort_unstable();
        words.dedup();
        for w in words {
            by_word
                .entry((item.label.as_deref(), w))
                .or_default()
                .golds
                .push(g);
        }
    }
    let open: Vec<usize> = (0..pred.len()).filter(|&p| !pred_used[p]).collect();
    let gold_spans: Vec<&str> = gold.iter().map(|g| g.span.as_str()).collect();
    let pred_spans: Vec<&str> = open.iter().map(|&p| pred[p].span.as_str()).collect();
    // containing[k]: golds contained in open prediction k's span, or containing it.
    let mut containing = occurrences(&gold_spans, &pred_spans);
    for (g, preds) in occurrences(&pred_spans, &gold_spans)
        .into_iter()
        .enumerate()
    {
        for k in preds {
            containing[k].push(g);
        }
    }
    let mut out = Vec::new();
    for (k, &pi) in open.iter().enumerate() {
        let p = &pred[pi];
        let wrong_type = |g: usize| {
            p.label.is_some()
                && gold[g].span == p.span
                && gold[g].label != p.label
                && in_options(&p.label)
        };
        let wrong_boundary =
            |g: usize| gold[g].label == p.label && !gold[g].span.is_empty() && !p.span.is_empty();
        let mut best: Option<usize> = None;
        let mut consider = |g: Option<usize>| {
            if let Some(g) = g {
                best = Some(best.map_or(g, |b| b.min(g)));
            }
        };
        if let Some(c) = by_span.get_mut(p.span.as_str()) {
            consider(c.first(gold_used, wrong_type));
        }
        if !p.span.is_empty() {
            for w in overlap_words(&p.span) {
                if let Some(c) = by_word.get_mut(&(p.label.as_deref(), w)) {
                    consider(c.first(gold_used, wrong_boundary));
                }
            }
        }
        consider(
            containing[k]
                .iter()
                .copied()
                .filter(|&g| !gold_used[g] && (wrong_type(g) || wrong_boundary(g)))
                .min(),
        );
        if let Some(g) = best {
            let kind = if wrong_type(g) {
                ErrorKind::WrongType
            } else {
                ErrorKind::WrongBoundary
            };
            gold_used[g] = true;
            pred_used[pi] = true;
            out.push((g, pi, kind));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::split_item;
    use super::*;
    use crate::ie::TaskKind;

    /// The pairing as first written: every unmatched prediction against every gold item.
    fn near_misses_quadratic(
        gold: &[Item],
        pred: &[Item],
        gold_used: &mut [bool],
        pred_used: &mut [bool],
        in_options: impl Fn(&Option<String>) -> bool,
    ) -> Vec<(usize, usize, ErrorKind)> {
        fn overlaps(a: &str, b: &str) -> bool {
            if a.is_empty() || b.is_empty() {
                return false;
            }
            if a.contains(b) || b.contains(a) {
                return true;
            }
            let wb: Vec<&str> = overlap_words(b).collect();
            overlap_words(a).any(|w| wb.contains(&w))
        }
        let mut out = Vec::new();
        for (pi, p) in pred.iter().enumerate() {
            if pred_used[pi] {
                continue;
            }
            let pair = (0..gold.len()).filter(|&g| !gold_used[g]).find_map(|g| {
                let gi = &gold[g];
                if p.label.is_some()
                    && gi.span == p.span
                    && gi.label != p.label
                    && in_options(&p.label)
                {
                    Some((g, ErrorKind::WrongType))
                } else if gi.label == p.label && overlaps(&gi.span, &p.span) {
                    Some((g, ErrorKind::WrongBoundary))
                } else {
                    None
                }
            });
            if let Some((g, kind)) = pair {
                gold_used[g] = true;
                pred_used[pi] = true;
                out.push((g, pi, kind));
            }
        }
        out
    }

    #[test]
    fn indexed_pairing_equals_the_quadratic_one() {
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let words = [
            "ann",
            "bob",
            "new",
            "york",
            "x",
            "ann bob",
            "ork",
            "",
            "new york city",
        ];
        let labels = ["person", "location", "org"];
        for round in 0..3000 {
            let item = |next: &mut dyn FnMut(usize) -> usize| {
                let span = (0..1 + next(3))
                    .map(|_| words[next(words.len())])
                    .collect::<Vec<_>>()
                    .join(if next(4) == 0 { "," } else { " " });
                let text = if next(10) == 0 {
                    span.clone()
                } else {
                    format!("{}: {span}", labels[next(labels.len())])
                };
                split_item(TaskKind::Ner, &text)
            };
            let gold: Vec<Item> = (0..next(8)).map(|_| item(&mut next)).collect();
            let pred: Vec<Item> = (0..next(8)).map(|_| item(&mut next)).collect();
            // Some are already matched exactly, as the exact phase leaves them.
            let mut used_g: Vec<bool> = (0..gold.len()).map(|_| next(5) == 0).collect();
            let mut used_p: Vec<bool> = (0..pred.len()).map(|_| next(5) == 0).collect();
            let (mut g2, mut p2) = (used_g.clone(), used_p.clone());
            let opts = |l: &Option<String>| l.as_deref() != Some("org");
            let fast = near_misses(&gold, &pred, &mut used_g, &mut used_p, opts);
            let slow = near_misses_quadratic(&gold, &pred, &mut g2, &mut p2, opts);
            assert_eq!(fast, slow, "round {round}");
        }
    }
}
