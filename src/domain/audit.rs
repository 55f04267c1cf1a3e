//! The audit trail: who did what to which profile, device, record or user, and how it ended. Entries are
//! plain data, written by the store in the same atomic write as the change they record, never edited.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which front-end a command came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrontEnd {
    Cli,
    Workstation,
}

impl FrontEnd {
    pub fn label(self) -> &'static str {
        match self {
            FrontEnd::Cli => "command line",
            FrontEnd::Workstation => "workstation",
        }
    }
}

/// Who runs a command: the operating-system user, the SSH client address when there is one, the host and
/// the front-end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    pub ssh_client: Option<String>,
    pub host: String,
    pub front_end: FrontEnd,
    /// Tells one running kitting from another (a workstation ignores the changes it made itself).
    pub session: String,
}

impl Actor {
    /// A fixed actor for tests and tools.
    pub fn named(user: &str, front_end: FrontEnd) -> Actor {
        Actor { user: user.into(), ssh_client: None, host: "localhost".into(), front_end, session: user.into() }
    }

    /// `user@host`, with `from ADDRESS` when over SSH.
    pub fn describe(&self) -> String {
        match &self.ssh_client {
            Some(a) => format!("{}@{} from {a}", self.user, self.host),
            None => format!("{}@{}", self.user, self.host),
        }
    }
}

/// The counts of an import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    pub rows: u64,
    pub valid: u64,
    pub rejected: u64,
    pub created: u64,
    pub updated: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditOutcome {
    /// Done, with what it did ("token refreshed, expires 2026-12-15").
    Done(String),
    /// Refused, with the reason.
    Refused(String),
}

impl AuditOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            AuditOutcome::Done(_) => "done",
            AuditOutcome::Refused(_) => "refused",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            AuditOutcome::Done(t) | AuditOutcome::Refused(t) => t,
        }
    }
}

/// One recorded command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Assigned by the store, increasing (0 until stored).
    pub id: u64,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The command's name, e.g. `device.add`.
    pub command: String,
    /// The profile the command concerns, by name at the time.
    pub profile: Option<String>,
    /// What it was applied to, for people: `IMEI 490154203237518`, `user alice`, `DEP device D1`.
    pub target: String,
    pub outcome: AuditOutcome,
    pub counts: Option<ImportCounts>,
}

/// Which entries to list (every condition must hold); newest first, at most `limit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Profile name, compared case-insensitively.
    pub profile: Option<String>,
    /// Operating-system user, compared exactly.
    pub actor: Option<String>,
    pub limit: Option<usize>,
}

impl AuditQuery {
    pub fn matches(&self, e: &AuditEntry) -> bool {
        self.since.is_none_or(|s| e.at >= s)
            && self.until.is_none_or(|u| e.at < u)
            && self
                .profile
                .as_ref()
                .is_none_or(|p| e.profile.as_deref().is_some_and(|q| q.trim().eq_ignore_ascii_case(p.trim())))
            && self.actor.as_ref().is_none_or(|a| &e.actor.user == a)
    }
}

/// Replaces every occurrence of a secret (token, check-in code, Wi-Fi password) in `text` with a mask, so
/// that no audit entry, log line or error message carries one in clear.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "•••");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_short_strings_left_alone() {
        assert_eq!(redact("token abcdEFGH1234 is wrong", &["abcdEFGH1234"]), "token ••• is wrong");
        assert_eq!(redact("a b c", &["a"]), "a b c", "too short to be a secret: not masked everywhere");
    }

    #[test]
    fn queries_filter_by_time_profile_and_user() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().with_timezone(&Utc);
        let e = AuditEntry {
            id: 1,
            at,
            actor: Actor::named("alice", FrontEnd::Cli),
            command: "device.add".into(),
            profile: Some("Dock 3".into()),
            target: "IMEI 1".into(),
            outcome: AuditOutcome::Done("added".into()),
            counts: None,
        };
        assert!(AuditQuery::default().matches(&e));
        assert!(AuditQuery { profile: Some("dock 3".into()), ..Default::default() }.matches(&e));
        assert!(!AuditQuery { profile: Some("Dock 4".into()), ..Default::default() }.matches(&e));
        assert!(!AuditQuery { actor: Some("bob".into()), ..Default::default() }.matches(&e));
        assert!(
            AuditQuery { since: Some(at), until: Some(at + chrono::Duration::seconds(1)), ..Default::default() }
                .matches(&e)
        );
        assert!(!AuditQuery { until: Some(at), ..Default::default() }.matches(&e), "until is exclusive");
    }
}
