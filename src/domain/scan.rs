//! What a barcode scanner types: one scan classified (IMEI, IMEISV, MEID, Wi-Fi MAC, serial number) and
//! normalized, before anything is looked up. Pure rules; the scan station and `kitting find` use them.
//!
//! A scan is what came before Enter, Tab or CR. Normalizing removes an AIM symbology identifier at the
//! start (`]C1`, `]Q3`, …), spaces, dashes, dots and colons; a GS (0x1D) separates several values in one
//! code (a label carrying an IMEI and a serial number gives two scans). Classes, by shape:
//! - 15 digits: an IMEI (its Luhn check digit must be right);
//! - 16 digits: an IMEISV, whose IMEI is its first 14 digits and their check digit;
//! - 14 hexadecimal characters, or 18 digits: a MEID;
//! - 12 hexadecimal characters with at least one letter A–F, or written in pairs (`A4:B1:…`): a Wi-Fi MAC;
//! - otherwise letters and digits, 4 to 64 of them: a serial number (a leading `S` data identifier is
//!   removed when the station is set up so).

use super::imei::{Imei, luhn_check_digit};

/// The group separator some scanners send between the values of one code.
pub const GS: char = '\u{1d}';

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanKind {
    Imei,
    Imeisv,
    Meid,
    WifiMac,
    Serial,
}

impl ScanKind {
    pub fn label(self) -> &'static str {
        match self {
            ScanKind::Imei => "IMEI",
            ScanKind::Imeisv => "IMEISV",
            ScanKind::Meid => "MEID",
            ScanKind::WifiMac => "Wi-Fi MAC",
            ScanKind::Serial => "serial number",
        }
    }
}

/// One value of a scan, classified and normalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub kind: ScanKind,
    /// The normalized value: an IMEISV's IMEI, a MEID or MAC upper-cased, a serial as scanned.
    pub value: String,
    /// The IMEI, for an IMEI or an IMEISV.
    pub imei: Option<Imei>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanRules {
    /// Remove a leading `S` (the data identifier of a serial-number label) from a serial number.
    pub strip_serial_s: bool,
}

/// A refused scan: what was scanned (made safe to show) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanError {
    pub shown: String,
    pub reason: String,
}

/// The longest scan looked at; a longer one is refused without being copied.
pub const MAX_SCAN: usize = 256;

/// Splits a scan into its values (GS-separated) and classifies each. An empty scan is no values.
pub fn parse(raw: &str, rules: ScanRules) -> Result<Vec<Scanned>, ScanError> {
    let shown = |s: &str| {
        let safe = super::text::sanitize(s);
        let mut out: String = safe.chars().take(40).collect();
        if safe.chars().count() > 40 {
            out.push('…');
        }
        out
    };
    if raw.len() > MAX_SCAN {
        return Err(ScanError {
            shown: shown(&raw[..raw.floor_char_boundary(40)]),
            reason: format!("a scan of {} bytes is not a device identifier (at most {MAX_SCAN})", raw.len()),
        });
    }
    let mut s = raw.trim_matches(|c: char| c.is_whitespace() || c == GS);
    // An AIM symbology identifier: `]`, the symbology letter, a modifier character.
    if let Some(rest) = s.strip_prefix(']')
        && rest.len() >= 2
        && rest.is_char_boundary(2)
        && rest.as_bytes()[0].is_ascii_alphabetic()
    {
        s = &rest[2..];
    }
    s.split(GS)
        .filter(|p| !p.trim().is_empty())
        .map(|p| classify(p, rules).map_err(|reason| ScanError { shown: shown(p), reason }))
        .collect()
}

fn classify(part: &str, rules: ScanRules) -> Result<Scanned, String> {
    if let Some(c) = part.chars().find(|c| c.is_control() && !c.is_whitespace()) {
        return Err(format!("the scan holds the control character U+{:04X}", u32::from(c)));
    }
    let paired = is_mac_pairs(part.trim());
    let v: String = part.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | ':' | '\t')).collect();
    let digits = v.bytes().all(|b| b.is_ascii_digit());
    let hex = v.bytes().all(|b| b.is_ascii_hexdigit());
    let n = v.len();
    if digits && n == 15 {
        let imei = Imei::parse(&v)?;
        return Ok(Scanned { kind: ScanKind::Imei, value: imei.to_string(), imei: Some(imei) });
    }
    if digits && n == 16 {
        let body = &v[..14];
        let imei = Imei::parse(&format!("{body}{}", luhn_check_digit(body))).map_err(|e| format!("IMEISV: {e}"))?;
        return Ok(Scanned { kind: ScanKind::Imeisv, value: imei.to_string(), imei: Some(imei) });
    }
    if (hex && n == 14) || (digits && n == 18) {
        return Ok(Scanned { kind: ScanKind::Meid, value: v.to_ascii_uppercase(), imei: None });
    }
    if hex && n == 12 && (paired || v.bytes().any(|b| b.is_ascii_alphabetic())) {
        return Ok(Scanned { kind: ScanKind::WifiMac, value: v.to_ascii_uppercase(), imei: None });
    }
    if digits && (13..=17).contains(&n) {
        return Err(format!("{n} digits: not an IMEI (15), an IMEISV (16) or a serial number; scan again"));
    }
    let serial = if rules.strip_serial_s && n > 1 && (v.starts_with('S') || v.starts_with('s')) { &v[1..] } else { &v };
    if let Some(c) = serial.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(format!("a serial number holds letters and digits only, found {c:?}"));
    }
    match serial.len() {
        0..4 => Err(format!("{:?} is too short for a serial number (at least 4 characters)", serial)),
        4..=64 => Ok(Scanned { kind: ScanKind::Serial, value: serial.to_string(), imei: None }),
        n => Err(format!("a serial number has at most 64 characters, this has {n}")),
    }
}

/// `A4:B1:C2:D3:E4:F5` or `A4-B1-…`: six pairs of hex digits with one separator.
fn is_mac_pairs(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(raw: &str) -> Scanned {
        let mut v = parse(raw, ScanRules::default()).unwrap_or_else(|e| panic!("{raw:?}: {e:?}"));
        assert_eq!(v.len(), 1, "{raw:?}");
        v.remove(0)
    }

    fn refused(raw: &str) -> String {
        parse(raw, ScanRules::default()).expect_err(raw).reason
    }

    #[test]
    fn each_class_is_recognised_and_normalized() {
        assert_eq!(
            (one("490154203237518").kind, one("490154203237518").value.as_str()),
            (ScanKind::Imei, "490154203237518")
        );
        assert_eq!(one(" 49-015420-323751-8 ").value, "490154203237518", "spaces and dashes go");
        assert_eq!(one("49.015420.323751.8").value, "490154203237518", "dots go");
        let sv = one("4901542032375101");
        assert_eq!((sv.kind, sv.value.as_str()), (ScanKind::Imeisv, "490154203237518"), "IMEISV → its IMEI");
        assert_eq!(one("A0000012345678").kind, ScanKind::Meid);
        assert_eq!(one("270113177609606897").kind, ScanKind::Meid, "decimal MEID");
        assert_eq!(one("a4:b1:c2:d3:e4:f5").value, "A4B1C2D3E4F5");
        assert_eq!(one("A4B1C2D3E4F5").kind, ScanKind::WifiMac);
        assert_eq!(one("11-22-33-44-55-66").kind, ScanKind::WifiMac, "pairs make a MAC even without letters");
        assert_eq!(one("R58M12ABC45").kind, ScanKind::Serial);
        assert_eq!(one("123456789012").kind, ScanKind::Serial, "12 digits alone are a serial");
    }

    #[test]
    fn prefixes_and_separators_are_handled() {
        assert_eq!(one("]C1490154203237518").value, "490154203237518", "AIM identifier");
        assert_eq!(one("]Q3R58M12ABC45").value, "R58M12ABC45");
        let two = parse("]C1490154203237518\u{1d}R58M12ABC45", ScanRules::default()).unwrap();
        assert_eq!(two.iter().map(|s| s.kind).collect::<Vec<_>>(), [ScanKind::Imei, ScanKind::Serial]);
        assert_eq!(one("SR58M12ABC45").value, "SR58M12ABC45", "S is kept unless set up");
        let s = parse("SR58M12ABC45", ScanRules { strip_serial_s: true }).unwrap();
        assert_eq!(s[0].value, "R58M12ABC45");
        assert!(parse("  \r", ScanRules::default()).unwrap().is_empty());
    }

    #[test]
    fn refusals_say_why() {
        assert!(refused("490154203237519").contains("check digit"), "{}", refused("490154203237519"));
        assert_eq!(one("49015420323751").kind, ScanKind::Meid, "14 digits are a MEID (hexadecimal digits)");
        assert!(refused("4901542032375").contains("13 digits"));
        assert!(refused("AB").contains("too short"));
        assert!(refused("R58M#12").contains("'#'"));
        assert!(refused("R58\u{7}M12").contains("U+0007"));
        let long = "9".repeat(5000);
        let e = parse(&long, ScanRules::default()).unwrap_err();
        assert!(e.reason.contains("5000 bytes") && e.shown.chars().count() <= 41, "{e:?}");
    }
}
