//! The byte text of every token, sorted so that the tokens an answer grammar allows next can
//! be found by walking the grammar and the sorted table together: only the bytes the grammar
//! accepts are searched, so a step costs the few hundred tokens that fit, not the 262,144 of
//! Gemma's vocabulary.

use super::tokenizer::DecoderTokenizer;
use crate::prompt::{AnswerGrammar, Cursor};

pub struct TokenBytes {
    /// Each id's text as decoding writes it; empty for tokens an answer never holds (special
    /// tokens).
    text: Vec<Vec<u8>>,
    /// The ids with text, by text then id.
    sorted: Vec<u32>,
}

impl TokenBytes {
    /// `text[id]` is what token `id` adds to a decoded answer (empty: never allowed).
    pub fn new(text: Vec<Vec<u8>>) -> TokenBytes {
        let mut sorted: Vec<u32> = (0..text.len() as u32)
            .filter(|&i| !text[i as usize].is_empty())
            .collect();
        sorted.sort_by(|&a, &b| text[a as usize].cmp(&text[b as usize]).then(a.cmp(&b)));
        TokenBytes { text, sorted }
    }

    /// The bytes of a SentencePiece-style vocabulary (`▁` for a space, `<0xNN>` byte tokens,
    /// special tokens left out), as the tokenizer's decoder writes them.
    pub fn of_tokenizer(tok: &DecoderTokenizer) -> TokenBytes {
        let inner = tok.inner();
        let special: std::collections::HashSet<u32> = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        let n = inner.get_vocab_size(true) as u32;
        TokenBytes::new(
            (0..n)
                .map(|id| match inner.id_to_token(id) {
                    Some(_) if special.contains(&id) => Vec::new(),
                    Some(piece) => piece_bytes(&piece),
                    None => Vec::new(),
                })
                .collect(),
        )
    }

    pub fn text(&self, id: u32) -> &[u8] {
        self.text.get(id as usize).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The tokens whose whole text the grammar accepts from `at`, by ascending text.
    pub fn allowed(&self, g: &AnswerGrammar, at: &Cursor) -> Vec<u32> {
        let mut out = Vec::new();
        self.visit(g, at, 0, self.sorted.len(), 0, &mut out);
        out
    }

    /// `sorted[lo..hi]` share their first `depth` bytes, which led the grammar to `at`.
    fn visit(
        &self,
        g: &AnswerGrammar,
        at: &Cursor,
        mut lo: usize,
        hi: usize,
        depth: usize,
        out: &mut Vec<u32>,
    ) {
        let text = |i: usize| self.text[self.sorted[i] as usize].as_slice();
        // Shorter texts sort first: those that end here are whole tokens.
        while lo < hi && text(lo).len() == depth {
            if depth > 0 {
                out.push(self.sorted[lo]);
            }
            lo += 1;
        }
        for b in g.next_bytes(at) {
            let start =
                lo + self.sorted[lo..hi].partition_point(|&id| self.text[id as usize][depth] < b);
            let end = start
                + self.sorted[start..hi].partition_point(|&id| self.text[id as usize][depth] == b);
            if start == end {
                continue;
            }
            if let Some(next) = g.step(at, b) {
                self.visit(g, &next, start, end, depth + 1, out);
            }
        }
    }
}

/// What one vocabulary piece decodes to: `<0xNN>` is that byte, `▁` a space.
fn piece_bytes(piece: &str) -> Vec<u8> {
    if let Some(hex) = piece
        .strip_prefix("<0x")
        .and_then(|h| h.strip_suffix('>'))
        .filter(|h| h.len() == 2)
    {
        if let Ok(b) = u8::from_str_radix(hex, 16) {
            return vec![b];
        }
    }
    piece.replace('▁', " ").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::TaskKind;

    #[test]
    fn allowed_tokens_are_exactly_those_the_grammar_takes_whole() {
        let vocab: Vec<&str> = vec![
            "", " person", " per", ":", ": ", " M", "Marie", " Marie", "ar", "ie", "x", " ",
            "person", "None", " None", "; ", ";", "C",
        ];
        let tb = TokenBytes::new(vocab.iter().map(|v| v.as_bytes().to_vec()).collect());
        let g = AnswerGrammar::new(TaskKind::Ner, &[vec!["person".to_string()]], "Marie Curie");
        let brute = |at: &Cursor| -> Vec<u32> {
            let mut v: Vec<u32> = (0..vocab.len() as u32)
                .filter(|&i| !vocab[i as usize].is_empty())
                .filter(|&i| g.walk(at, vocab[i as usize].as_bytes()).is_some())
                .collect();
            v.sort_by_key(|&i| vocab[i as usize]);
            v
        };
        for prefix in [
            "",
            " ",
            " per",
            " person",
            " person:",
            " person: ",
            " person: M",
            " person: Marie",
        ] {
            let at = g.walk(&g.start(), prefix.as_bytes()).unwrap();
            assert_eq!(tb.allowed(&g, &at), brute(&at), "after {prefix:?}");
        }
    }

    #[test]
    fn pieces_decode_as_the_tokenizer_does() {
        assert_eq!(piece_bytes("▁person"), b" person");
        assert_eq!(piece_bytes("<0x0A>"), b"\n");
        assert_eq!(piece_bytes("<0xE2>"), vec![0xE2]);
        assert_eq!(piece_bytes("<0x>"), b"<0x>");
    }
}
