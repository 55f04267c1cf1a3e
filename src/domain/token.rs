//! Enrollment tokens: 192 bits from the OS random source, URL-safe text, an expiry.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub const MIN_DAYS: u32 = 7;
pub const MAX_DAYS: u32 = 99;
pub const DEFAULT_DAYS: u32 = 7;
const TOKEN_BYTES: usize = 24;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub value: String,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub expires: DateTime<Utc>,
    /// The lifetime the token was issued with, offered again when it is refreshed (`None` for tokens
    /// issued before kitting kept it, schema version 3 and older).
    pub days: Option<u32>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, expires {})", self.masked(), self.expires)
    }
}

/// Checks a number of days against the seed's range, 7 to 99.
pub fn check_days(days: u32) -> Result<u32, String> {
    if (MIN_DAYS..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(format!("token days must be between {MIN_DAYS} and {MAX_DAYS}, got {days}"))
    }
}

impl Token {
    /// The lifetime to offer when this token is refreshed: its own, else `default`.
    pub fn lifetime_or(&self, default: u32) -> u32 {
        self.days.unwrap_or(default)
    }

    /// Issues a new token valid for `days` days from `now`.
    pub fn issue(now: DateTime<Utc>, days: u32) -> Result<Token, String> {
        check_days(days)?;
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
        Ok(Token {
            value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
            expires: now + Duration::days(i64::from(days)),
            days: Some(days),
        })
    }

    /// Adds `days` days, counted from the current expiry or from now if it has passed (see README).
    pub fn extend(&mut self, now: DateTime<Utc>, days: u32) -> Result<(), String> {
        check_days(days)?;
        self.expires = self.expires.max(now) + Duration::days(i64::from(days));
        Ok(())
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires
    }

    /// Constant-time comparison with a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        self.value.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// The token with all but its first four characters hidden.
    pub fn masked(&self) -> String {
        let head: String = self.value.chars().take(4).collect();
        format!("{head}{}", "•".repeat(self.value.chars().count().saturating_sub(4)))
    }

    /// Days left, counting a started day as a day; 0 or less once expired.
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        let secs = (self.expires - now).num_seconds();
        if secs > 0 { (secs + 86_399) / 86_400 } else { secs / 86_400 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn issued_tokens_are_long_random_and_url_safe() {
        let a = Token::issue(t0(), 7).unwrap();
        let b = Token::issue(t0(), 7).unwrap();
        assert_ne!(a.value, b.value);
        assert_eq!(a.value.len(), 32, "24 bytes = 192 bits as base64url");
        assert!(a.value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(a.expires, t0() + Duration::days(7));
        assert_eq!(a.days_left(t0()), 7);
        assert_eq!(a.days_left(t0() + Duration::seconds(1)), 7);
        assert_eq!(a.days_left(t0() + Duration::days(6) + Duration::hours(1)), 1);
        assert_eq!(a.days_left(t0() + Duration::days(7)), 0);
        assert_eq!(a.days_left(t0() + Duration::days(9)), -2);
    }

    #[test]
    fn day_range_is_7_to_99() {
        assert!(Token::issue(t0(), 6).unwrap_err().contains("between 7 and 99"));
        assert!(Token::issue(t0(), 100).is_err());
        assert!(Token::issue(t0(), 0).is_err());
        assert!(Token::issue(t0(), 7).is_ok());
        assert!(Token::issue(t0(), 99).is_ok());
        let mut t = Token::issue(t0(), 7).unwrap();
        assert!(t.extend(t0(), 6).is_err());
        assert!(t.extend(t0(), 100).is_err());
        assert_eq!(t.expires, t0() + Duration::days(7), "a refused extension changes nothing");
    }

    #[test]
    fn extend_counts_from_expiry_or_from_now_when_expired() {
        let mut t = Token::issue(t0(), 7).unwrap();
        t.extend(t0(), 10).unwrap();
        assert_eq!(t.expires, t0() + Duration::days(17));
        let later = t0() + Duration::days(30);
        assert!(t.is_expired(later));
        t.extend(later, 7).unwrap();
        assert_eq!(t.expires, later + Duration::days(7));
        assert!(!t.is_expired(later));
    }

    #[test]
    fn matches_only_the_exact_token() {
        let t = Token::issue(t0(), 7).unwrap();
        assert!(t.matches(&t.value.clone()));
        assert!(!t.matches(&t.value[..31]));
        assert!(!t.matches(""));
        assert!(!t.matches(&t.value.to_uppercase()) || t.value == t.value.to_uppercase());
        assert!(t.masked().starts_with(&t.value[..4]));
        assert!(!t.masked().contains(&t.value[4..]));
    }
}
