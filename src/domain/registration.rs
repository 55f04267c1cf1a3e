//! The seed's registration outcome table as a pure function.
//!
//! | token                       | IMEI    | serial  | manufacturer | outcome                         |
//! |-----------------------------|---------|---------|--------------|---------------------------------|
//! | wrong, missing or expired   | any     | any     | any          | not this flow (normal ID/password registration) |
//! | the profile's, valid        | correct | any     | any          | registered                      |
//! | the profile's, valid        | absent/wrong | correct | correct (any case) | registered             |
//! | the profile's, valid        | absent/wrong | correct | wrong   | not registered                  |
//! | the profile's, valid        | absent/wrong | wrong   | correct | not registered                  |
//! | profile without token       | same identifier rules, no token needed                         |

use chrono::{DateTime, Utc};

use super::{Device, Imei, Profile};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchedBy {
    Imei,
    SerialAndManufacturer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Registered {
        seq: u32,
        by: MatchedBy,
    },
    NotRegistered(String),
    /// The token is not this bulk-enrollment flow's: the device falls back to the normal ID/password flow.
    NotThisFlow(String),
}

/// What a device presents.
#[derive(Clone, Debug, Default)]
pub struct Presented<'a> {
    pub token: Option<&'a str>,
    pub imei: Option<Imei>,
    pub serial: Option<&'a str>,
    pub manufacturer: Option<&'a str>,
}

/// Decides the outcome for a device that presented `presented` to `profile`. `candidates` are the
/// profile's devices that have the presented IMEI or the presented serial number (the store finds them
/// through its indexes); all matching is done here.
pub fn decide(now: DateTime<Utc>, profile: &Profile, presented: &Presented<'_>, candidates: &[Device]) -> Outcome {
    if let Some(token) = &profile.token {
        match presented.token {
            None => return Outcome::NotThisFlow("no enrollment token was presented".into()),
            Some(t) if !token.matches(t) => {
                return Outcome::NotThisFlow("the enrollment token is not this profile's".into());
            }
            Some(_) if token.is_expired(now) => {
                return Outcome::NotThisFlow(format!(
                    "the enrollment token expired on {}",
                    token.expires.format("%Y-%m-%d %H:%M UTC")
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(imei) = presented.imei
        && let Some(d) = candidates.iter().find(|d| d.ids.imeis().any(|i| i == imei))
    {
        return Outcome::Registered { seq: d.seq, by: MatchedBy::Imei };
    }
    let serial = presented.serial.map(|s| s.trim().to_uppercase()).filter(|s| !s.is_empty());
    let manufacturer = presented.manufacturer.map(|m| m.trim().to_lowercase()).filter(|m| !m.is_empty());
    if let Some(serial) = &serial {
        let same_serial: Vec<&Device> = candidates
            .iter()
            .filter(|d| d.ids.serial.as_deref().map(str::to_uppercase).as_deref() == Some(serial.as_str()))
            .collect();
        if let Some(d) = same_serial
            .iter()
            .find(|d| manufacturer.is_some() && d.ids.manufacturer.as_deref().map(str::to_lowercase) == manufacturer)
        {
            return Outcome::Registered { seq: d.seq, by: MatchedBy::SerialAndManufacturer };
        }
        if !same_serial.is_empty() {
            return Outcome::NotRegistered(match &manufacturer {
                None => "the serial number matches but no manufacturer was presented".into(),
                Some(m) => format!("the serial number matches but the manufacturer {m:?} does not"),
            });
        }
    }
    let reason = match (presented.imei.is_some(), serial.is_some()) {
        (false, false) => "no IMEI and no serial number was presented".to_string(),
        (true, false) => format!("no device of profile {:?} has this IMEI", profile.name),
        (false, true) => format!("no device of profile {:?} has this serial number", profile.name),
        (true, true) => format!("no device of profile {:?} has this IMEI or serial number", profile.name),
    };
    Outcome::NotRegistered(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Identifiers, Source, Status, Token, android::AndroidConfig};
    use chrono::Duration;

    const IMEI: &str = "490154203237518";
    const OTHER_IMEI: &str = "356938035643809";

    fn now() -> DateTime<Utc> {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn profile(with_token: bool) -> Profile {
        Profile {
            id: 1,
            name: "Warehouse".into(),
            description: None,
            kind: "Self Maintained".into(),
            created: now(),
            modified: now(),
            user: None,
            token: with_token.then(|| Token::issue(now() - Duration::days(1), 7).unwrap()),
            config: AndroidConfig::default(),
            device_count: 1,
            attributes: vec![],
            version: 1,
        }
    }

    fn device() -> Device {
        Device {
            seq: 42,
            ids: Identifiers {
                imei: Some(Imei::parse(IMEI).unwrap()),
                imei2: None,
                serial: Some("R58M12ABC".into()),
                manufacturer: Some("Samsung".into()),
            },
            attributes: vec![],
            status: Status::Pending,
            source: Source::Manual,
            created: now(),
            modified: now(),
        }
    }

    fn run(
        p: &Profile,
        token: Option<&str>,
        imei: Option<&str>,
        serial: Option<&str>,
        manufacturer: Option<&str>,
    ) -> Outcome {
        let presented = Presented { token, imei: imei.map(|i| Imei::parse(i).unwrap()), serial, manufacturer };
        decide(now(), p, &presented, &[device()])
    }

    #[test]
    fn token_correct_imei_correct_registers_even_with_wrong_serial_and_manufacturer() {
        let p = profile(true);
        let t = p.token.clone().unwrap().value;
        assert_eq!(run(&p, Some(&t), Some(IMEI), None, None), Outcome::Registered { seq: 42, by: MatchedBy::Imei });
        assert_eq!(
            run(&p, Some(&t), Some(IMEI), Some("WRONG"), Some("Apple")),
            Outcome::Registered { seq: 42, by: MatchedBy::Imei }
        );
    }

    #[test]
    fn serial_and_manufacturer_correct_registers_manufacturer_any_case() {
        let p = profile(true);
        let t = p.token.clone().unwrap().value;
        for m in ["Samsung", "SAMSUNG", "samsung"] {
            assert_eq!(
                run(&p, Some(&t), None, Some("R58M12ABC"), Some(m)),
                Outcome::Registered { seq: 42, by: MatchedBy::SerialAndManufacturer }
            );
        }
        // A wrong IMEI does not stop a correct serial + manufacturer.
        assert_eq!(
            run(&p, Some(&t), Some(OTHER_IMEI), Some("R58M12ABC"), Some("samsung")),
            Outcome::Registered { seq: 42, by: MatchedBy::SerialAndManufacturer }
        );
    }

    #[test]
    fn serial_correct_manufacturer_incorrect_is_not_registered() {
        let p = profile(true);
        let t = p.token.clone().unwrap().value;
        let o = run(&p, Some(&t), None, Some("R58M12ABC"), Some("Apple"));
        assert!(matches!(&o, Outcome::NotRegistered(r) if r.contains("manufacturer")), "{o:?}");
        let o = run(&p, Some(&t), None, Some("R58M12ABC"), None);
        assert!(matches!(&o, Outcome::NotRegistered(r) if r.contains("no manufacturer")), "{o:?}");
    }

    #[test]
    fn serial_incorrect_manufacturer_correct_is_not_registered() {
        let p = profile(true);
        let t = p.token.clone().unwrap().value;
        let o = run(&p, Some(&t), None, Some("WRONG1"), Some("Samsung"));
        assert!(matches!(&o, Outcome::NotRegistered(r) if r.contains("serial number")), "{o:?}");
        let o = run(&p, Some(&t), Some(OTHER_IMEI), None, None);
        assert!(matches!(&o, Outcome::NotRegistered(r) if r.contains("IMEI")), "{o:?}");
        let o = run(&p, Some(&t), None, None, None);
        assert!(matches!(&o, Outcome::NotRegistered(r) if r.contains("no IMEI")), "{o:?}");
    }

    #[test]
    fn wrong_missing_or_expired_token_is_not_this_flow() {
        let p = profile(true);
        let o = run(&p, Some("not-the-token"), Some(IMEI), None, None);
        assert!(matches!(&o, Outcome::NotThisFlow(r) if r.contains("not this profile's")), "{o:?}");
        let o = run(&p, None, Some(IMEI), None, None);
        assert!(matches!(&o, Outcome::NotThisFlow(r) if r.contains("no enrollment token")), "{o:?}");
        let mut expired = p.clone();
        expired.token.as_mut().unwrap().expires = now() - Duration::seconds(1);
        let t = expired.token.clone().unwrap().value;
        let o = run(&expired, Some(&t), Some(IMEI), None, None);
        assert!(matches!(&o, Outcome::NotThisFlow(r) if r.contains("expired")), "{o:?}");
    }

    #[test]
    fn profile_without_token_registers_by_identifiers_alone() {
        let p = profile(false);
        assert_eq!(run(&p, None, Some(IMEI), None, None), Outcome::Registered { seq: 42, by: MatchedBy::Imei });
        assert_eq!(
            run(&p, Some("anything"), None, Some("r58m12abc"), Some("SAMSUNG")),
            Outcome::Registered { seq: 42, by: MatchedBy::SerialAndManufacturer }
        );
        assert!(matches!(run(&p, None, None, Some("R58M12ABC"), Some("LG")), Outcome::NotRegistered(_)));
    }
}
