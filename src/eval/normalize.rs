//! The official evaluator's `_format` normalisation (SPEC §4.2), step by step in its order.

/// Python's `str.isspace()`: Unicode White_Space plus the information separators U+001C–U+001F.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Characters around which the evaluator removes spaces (step 2).
fn is_glue(c: char) -> bool {
    matches!(c, ',' | ':' | '(' | ')' | '.' | '_' | ';' | '\'' | '-')
}

/// Normalisation as the official evaluator applies it (`compat`), or without the
/// `location`→`located` rewrite that also changes entity text (`strict`).
pub fn normalize(s: &str, rewrite_location: bool) -> String {
    // 1 + 2 in one pass: collapse whitespace runs to one space and trim, and drop each such
    // space that touches a glue character (after step 1 every space sits between two
    // non-space characters, so looking at both neighbours is exact).
    let mut glued = String::with_capacity(s.len());
    let mut last: Option<char> = None;
    let mut pending_space = false;
    for c in s.chars() {
        if is_py_space(c) {
            pending_space = last.is_some();
            continue;
        }
        if pending_space && !last.is_some_and(is_glue) && !is_glue(c) {
            glued.push(' ');
        }
        pending_space = false;
        glued.push(c);
        last = Some(c);
    }
    // 3. Lowercase (Python and Rust both apply Final_Sigma, which needs the whole string).
    let lower = if glued.is_ascii() {
        glued.make_ascii_lowercase();
        glued
    } else {
        glued.to_lowercase()
    };
    // 4. Delete braces; 5. collapse runs of , . ; — braces go first, so ",{}," becomes ",".
    let mut out = String::with_capacity(lower.len());
    let mut prev: Option<char> = None;
    for c in lower.chars().filter(|&c| c != '{' && c != '}') {
        if matches!(c, ',' | '.' | ';') && prev == Some(c) {
            continue;
        }
        out.push(c);
        prev = Some(c);
    }
    // 6. Typographic apostrophe, after step 2, so spaces around it survive.
    if out.contains('\u{2019}') {
        out = out.replace('\u{2019}', "'");
    }
    // 7. The official alias, applied to every substring.
    if rewrite_location && out.contains("location") {
        out = out.replace("location", "located");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compat(s: &str) -> String {
        normalize(s, true)
    }

    #[test]
    fn spec_golden_vectors() {
        assert_eq!(
            compat("  The U . S .  - based   company\u{2019}s {x} ... ,, relocation "),
            "the u.s.-based company's x.,relocated"
        );
        assert_eq!(
            compat("Person : John  Smith ;; Location:New-York"),
            "person:john smith;located:new-york"
        );
    }

    #[test]
    fn typographic_apostrophe_keeps_its_spaces() {
        assert_eq!(compat("company \u{2019} s"), "company ' s");
        assert_ne!(compat("company \u{2019} s"), compat("company's"));
    }

    #[test]
    fn python_whitespace_includes_separators() {
        assert_eq!(compat("a\u{1c}\u{a0}b\u{3000}\u{85}c"), "a b c");
        // U+200B is not whitespace for Python either.
        assert_eq!(compat("a\u{200b}b"), "a\u{200b}b");
    }

    #[test]
    fn strict_keeps_location() {
        assert_eq!(normalize("Relocation Act", false), "relocation act");
        assert_eq!(compat("Relocation Act"), "relocated act");
    }

    #[test]
    fn final_sigma_lowercases_like_python() {
        // python3 -c "print('ΟΔΟΣ ΑΣ'.lower())"
        assert_eq!(compat("ΟΔΟΣ ΑΣ"), "οδος ας");
    }
}
