//! IMEI parsing and validation (3GPP TS 23.003: 14 digits plus a Luhn check digit).

use std::fmt;

/// A validated 15-digit IMEI, kept as a number (it fits in 50 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Imei(u64);

impl Imei {
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// An IMEI read back from the database, where only validated IMEIs are written.
    pub fn from_stored(n: u64) -> Imei {
        debug_assert!(Imei::from_u64(n).is_some(), "a stored IMEI is valid");
        Imei(n)
    }

    /// Rebuilds an IMEI from its numeric form, checking it again.
    pub fn from_u64(n: u64) -> Option<Imei> {
        Imei::parse(&format!("{n:015}")).ok()
    }

    /// Parses an IMEI as a technician or a scanner types it: spaces and dashes are ignored.
    pub fn parse(raw: &str) -> Result<Imei, String> {
        let trimmed = crate::domain::text::trim(raw);
        // Fast path, no allocation: digits with optional spaces and dashes.
        let mut digits = [0u8; 15];
        let mut count = 0usize;
        let mut other = None;
        for b in trimmed.bytes() {
            match b {
                b'0'..=b'9' => {
                    if count < 15 {
                        digits[count] = b - b'0';
                    }
                    count += 1;
                }
                b' ' | b'-' => {}
                _ => {
                    other.get_or_insert(b);
                }
            }
        }
        if let Some(bad) = other {
            return Err(Imei::explain(trimmed, bad));
        }
        if count == 0 {
            return Err("IMEI is empty".into());
        }
        if count != 15 {
            return Err(format!("IMEI must have 15 digits, found {count}"));
        }
        let expected = luhn_digits(&digits[..14]);
        if expected != digits[14] {
            return Err(format!(
                "IMEI check digit is wrong: last digit is {}, the Luhn check digit of the first 14 digits is {expected}",
                digits[14]
            ));
        }
        Ok(Imei(digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d))))
    }

    fn explain(trimmed: &str, bad: u8) -> String {
        let upper = trimmed.to_ascii_uppercase();
        let numeric_like = upper.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'E' | '+' | '-' | ','));
        if numeric_like && (upper.contains('E') || upper.contains('.') || upper.contains(',')) {
            return "a spreadsheet turned this IMEI into a number (scientific notation or decimals); \
                    format the column as text and save the file again"
                .into();
        }
        let c = trimmed.chars().find(|c| !c.is_ascii_digit() && *c != ' ' && *c != '-').unwrap_or(char::from(bad));
        format!("IMEI may hold only digits, spaces and dashes, found {c:?}")
    }
}

/// The Luhn check digit for a string of ASCII digits.
pub fn luhn_check_digit(body: &str) -> u8 {
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    luhn_digits(&digits)
}

fn luhn_digits(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let d = u32::from(b);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:015}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_known_valid_imeis() {
        // Examples from public IMEI documentation.
        for s in ["490154203237518", "356938035643809", "35-693803-564380-9", " 35 6938 0356 4380 9 "] {
            let imei = Imei::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(imei.to_string().len(), 15);
        }
        assert_eq!(Imei::parse("490154203237518").unwrap().to_string(), "490154203237518");
    }

    #[test]
    fn rejects_wrong_check_digit() {
        let err = Imei::parse("490154203237517").unwrap_err();
        assert!(err.contains("check digit"), "{err}");
        assert!(err.contains("is 8"), "{err}");
    }

    #[test]
    fn rejects_wrong_length_and_letters() {
        assert!(Imei::parse("49015420323751").unwrap_err().contains("found 14"));
        assert!(Imei::parse("4901542032375180").unwrap_err().contains("found 16"));
        assert!(Imei::parse("49015420323751A").unwrap_err().contains("only digits"));
        assert!(Imei::parse("  ").unwrap_err().contains("empty"));
    }

    #[test]
    fn explains_spreadsheet_numbers() {
        for s in ["3.5E+14", "3.56938E+14", "356938035643809.0", "3,56938E+14"] {
            let err = Imei::parse(s).unwrap_err();
            assert!(err.contains("spreadsheet"), "{s}: {err}");
        }
    }

    #[test]
    fn leading_zero_survives_round_trip() {
        let body = "01234567890123";
        let s = format!("{body}{}", luhn_check_digit(body));
        let imei = Imei::parse(&s).unwrap();
        assert_eq!(imei.to_string(), s);
        assert_eq!(Imei::from_u64(imei.as_u64()), Some(imei));
    }

    proptest! {
        #[test]
        fn any_body_with_its_check_digit_is_valid(body in "[0-9]{14}") {
            let s = format!("{body}{}", luhn_check_digit(&body));
            prop_assert_eq!(Imei::parse(&s).unwrap().to_string(), s);
        }

        #[test]
        fn changing_one_digit_breaks_the_check(body in "[0-9]{14}", pos in 0usize..15, delta in 1u8..10) {
            let mut s: Vec<u8> = format!("{body}{}", luhn_check_digit(&body)).into_bytes();
            s[pos] = b'0' + (s[pos] - b'0' + delta) % 10;
            let s = String::from_utf8(s).unwrap();
            prop_assert!(Imei::parse(&s).is_err());
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = Imei::parse(&s);
        }
    }
}
