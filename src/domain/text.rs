//! Untrusted text: validation, screen escaping, spreadsheet formula escaping.

/// Refuses control characters and over-long values in names and identifiers.
pub fn check_plain(value: &str, what: &str, max_chars: usize) -> Result<(), String> {
    if value.len() <= max_chars && value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Ok(()); // printable ASCII within the limit: the common case, checked without decoding
    }
    if let Some(c) = value.chars().find(|c| is_unsafe(*c)) {
        return Err(format!("{what} contains a control character ({})", escape_char(c)));
    }
    let n = value.chars().count();
    if n > max_chars {
        return Err(format!("{what} is {n} characters long, at most {max_chars} are allowed"));
    }
    Ok(())
}

/// `str::trim` (Unicode white space), without decoding characters when both ends are visible ASCII:
/// the common case for every cell of an import.
pub fn trim(value: &str) -> &str {
    match (value.as_bytes().first(), value.as_bytes().last()) {
        (Some(&a), Some(&b)) if (0x21..0x7f).contains(&a) && (0x21..0x7f).contains(&b) => value,
        _ => value.trim(),
    }
}

/// C0 and C1 controls, DEL, and the Unicode bidirectional overrides and isolates.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

fn escape_char(c: char) -> String {
    match c {
        '\x1b' => "\\e".to_string(),
        '\n' => "\\n".to_string(),
        '\r' => "\\r".to_string(),
        '\t' => "\\t".to_string(),
        c if (c as u32) < 0x100 => format!("\\x{:02X}", c as u32),
        c => format!("\\u{{{:04X}}}", c as u32),
    }
}

/// Makes untrusted text safe for a terminal: every control or bidi character becomes a visible escape.
pub fn sanitize(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if is_unsafe(c) {
            out.push_str(&escape_char(c));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// JSON text made safe for a terminal: serde_json escapes C0 controls but writes C1 controls, DEL and
/// the bidi overrides as they are; here they become `\uXXXX` escapes too. They can only stand inside
/// strings (JSON's own syntax is ASCII), so the text stays the same JSON.
pub fn json_safe(json: &str) -> std::borrow::Cow<'_, str> {
    // JSON's own white space between values stays (serde_json escapes it inside strings).
    let unsafe_here = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(unsafe_here) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_here(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The most characters of a value a message quotes.
pub const QUOTED_CHARS: usize = 80;

/// A value quoted for a message, escaped once: control and bidi characters as visible escapes, a quote
/// as `\"`, at most `QUOTED_CHARS` characters, then how long the whole value is ("…" (N bytes)).
pub fn quote(value: &str) -> String {
    let (shown, cut) = match value.char_indices().nth(QUOTED_CHARS) {
        Some((i, _)) => (&value[..i], true),
        None => (value, false),
    };
    let inner = sanitize(shown).replace('"', "\\\"");
    if cut { format!("\"{inner}…\" ({} bytes)", value.len()) } else { format!("\"{inner}\"") }
}

/// Text for a message without quotes (a file name, a list of names): escaped once, capped as `quote` caps.
pub fn shown(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        Some((i, _)) => format!("{}… ({} bytes)", sanitize(&value[..i]), value.len()),
        None => sanitize(value).into_owned(),
    }
}

fn formula_start(v: &str) -> bool {
    matches!(v.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'))
        || (v.starts_with('\'') && formula_start(&v[1..]))
}

/// Spreadsheet formula injection guard (OWASP "CSV injection"): a cell a spreadsheet would run as a
/// formula gets a leading apostrophe. `unescape_formula` undoes exactly this, so export → import is lossless.
pub fn escape_formula(v: &str) -> std::borrow::Cow<'_, str> {
    if formula_start(v) { std::borrow::Cow::Owned(format!("'{v}")) } else { std::borrow::Cow::Borrowed(v) }
}

pub fn unescape_formula(v: &str) -> &str {
    match v.strip_prefix('\'') {
        Some(rest) if formula_start(rest) => rest,
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trim_is_str_trim() {
        for v in ["", " ", "a", " a ", "\u{a0}x\u{3000}", "x\u{a0}", "\tx", "é ", "a b"] {
            assert_eq!(trim(v), v.trim(), "{v:?}");
        }
    }

    #[test]
    fn sanitize_escapes_ansi_osc_bel_c1_and_bidi() {
        let hostile = "a\x1b[31mred\x1b]0;title\x07\u{9b}2J\u{202e}evil";
        let s = sanitize(hostile);
        assert!(!s.chars().any(is_unsafe), "{s}");
        assert_eq!(s, "a\\e[31mred\\e]0;title\\x07\\x9B2J\\u{202E}evil");
        assert!(matches!(sanitize("plain 日本"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn check_plain_names_the_control_character() {
        let e = check_plain("ab\x1bc", "serial number", 64).unwrap_err();
        assert!(e.contains("\\e"), "{e}");
        assert!(check_plain(&"x".repeat(65), "name", 64).unwrap_err().contains("65"));
        assert!(check_plain("Galaxy Tab S9", "name", 64).is_ok());
    }

    #[test]
    fn formula_cells_are_escaped() {
        assert_eq!(escape_formula("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(escape_formula("+81 3 1234"), "'+81 3 1234");
        assert_eq!(escape_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(escape_formula("-5"), "'-5");
        assert_eq!(escape_formula("'=x"), "''=x");
        assert_eq!(escape_formula("it's"), "it's");
        assert_eq!(escape_formula("'plain"), "'plain");
    }

    proptest! {
        #[test]
        fn formula_escape_round_trips(v in "['=+@\\-a-z\t]{0,6}") {
            let e = escape_formula(&v);
            prop_assert_eq!(unescape_formula(&e), v.as_str());
            prop_assert!(!matches!(e.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')));
        }
    }
}
