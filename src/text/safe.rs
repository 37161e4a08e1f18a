//! Strings from data and models on a terminal. A sentence holding `ESC ] 0 ; title BEL`
//! retitles the user's terminal, `ESC [ 31 m` recolours what follows, and CR or U+202E
//! (right-to-left override) scramble the table around them. Every string that came from a
//! dataset, a predictions file or a model goes through [`display_safe`] before the TUI or a CLI
//! table shows it: control characters become their visible Control Pictures (`␛`, `␍`, ...)
//! and invisible direction and separator marks their `\u{...}` escape, so nothing is lost from
//! view and nothing reaches the terminal raw.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must not reach a terminal as itself.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional marks, embeddings, overrides and isolates.
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            // Line and paragraph separators, and the byte-order mark.
            | '\u{2028}' | '\u{2029}' | '\u{FEFF}'
        )
}

fn write_visible(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c as u32 {
        // C0 controls have a picture each (U+2400 + code), DEL has U+2421.
        n @ 0..=0x1F => out.write_char(char::from_u32(0x2400 + n).unwrap_or('?')),
        0x7F => out.write_char('\u{2421}'),
        n => write!(out, "\\u{{{n:04x}}}"),
    }
}

/// `s` with every control character and invisible direction mark made visible; borrowed when
/// there was none.
pub fn display_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            let _ = write_visible(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`display_safe`] as an owned string, for widgets and tables that keep their cells.
pub fn safe_string(s: &str) -> String {
    display_safe(s).into_owned()
}

/// Formats a string as [`display_safe`] shows it, without building it first.
pub struct SafeText<'a>(pub &'a str);

impl fmt::Display for SafeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Padding and width (`{:<12}`) apply to the visible text.
        f.pad(&display_safe(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_overrides_become_visible() {
        assert!(matches!(display_safe("New York"), Cow::Borrowed(_)));
        assert_eq!(display_safe("a\u{1b}]0;title\u{7}b"), "a␛]0;title␇b");
        assert_eq!(display_safe("\u{1b}[31mred"), "␛[31mred");
        assert_eq!(display_safe("x\ry\nz\t"), "x␍y␊z␉");
        assert_eq!(display_safe("abc\u{202e}cba"), "abc\\u{202e}cba");
        assert_eq!(display_safe("\u{9b}31m\u{7f}"), "\\u{009b}31m␡");
        assert_eq!(format!("[{:<6}]", SafeText("a\u{1b}")), "[a␛    ]");
        // Ordinary non-ASCII text is untouched.
        assert_eq!(display_safe("Zürich 東京 Αθήνα"), "Zürich 東京 Αθήνα");
    }
}
