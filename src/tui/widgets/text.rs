//! Text from files, the database and the command line on the terminal: control characters, escape
//! sequences and bidi overrides made visible (`domain::text::sanitize`), never sent raw.

use std::borrow::Cow;

use crate::domain::text::sanitize;

pub fn safe(s: &str) -> Cow<'_, str> {
    sanitize(s)
}

pub fn owned(s: &str) -> String {
    sanitize(s).into_owned()
}

pub fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
