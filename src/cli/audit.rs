//! `kitting audit`: the audit trail, newest first, filtered.

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;

use super::{Context, Failure, Format, Outcome, print_rows};
use crate::domain::audit::{AuditEntry, AuditQuery};

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Entries at or after DATE (YYYY-MM-DD, UTC, or an RFC 3339 time)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Entries before the end of DATE (YYYY-MM-DD: that whole day included), or before an RFC 3339 time
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Entries about this profile (case-insensitive)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Entries by this operating-system user
    #[arg(long, value_name = "USER")]
    pub actor: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// A date (midnight UTC; `end_of_day` gives the next midnight) or an RFC 3339 time.
fn parse_time(flag: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, Failure> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
        Failure::usage(format!("{flag} {raw:?}: expected a date like 2026-12-01 or a time like 2026-12-01T09:00:00Z"))
    })?;
    let day = if end_of_day { day.succ_opt().unwrap_or(day) } else { day };
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

pub const HEADER: [&str; 11] =
    ["Time", "User", "From", "Front-end", "Command", "Profile", "Target", "Outcome", "Details", "Rows", "Counts"];

pub fn row(e: &AuditEntry) -> Vec<String> {
    let from = match &e.actor.ssh_client {
        Some(a) => format!("{} via ssh from {a}", e.actor.host),
        None => e.actor.host.clone(),
    };
    let (rows, counts) = match &e.counts {
        Some(c) => (
            c.rows.to_string(),
            format!("{} valid, {} rejected, {} created, {} updated", c.valid, c.rejected, c.created, c.updated),
        ),
        None => (String::new(), String::new()),
    };
    vec![
        e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
        e.actor.user.clone(),
        from,
        e.actor.front_end.label().to_string(),
        e.command.clone(),
        e.profile.clone().unwrap_or_default(),
        e.target.clone(),
        e.outcome.label().to_string(),
        e.outcome.text().to_string(),
        rows,
        counts,
    ]
}

pub fn run(ctx: &mut Context, a: AuditArgs) -> Outcome {
    let query = AuditQuery {
        since: a.since.as_deref().map(|s| parse_time("--since", s, false)).transpose()?,
        until: a.until.as_deref().map(|s| parse_time("--until", s, true)).transpose()?,
        profile: a.profile,
        actor: a.actor,
        limit: None,
    };
    let store = ctx.store()?;
    let entries = store.audit(&query)?;
    print_rows(a.format, &HEADER, entries.iter().map(row).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_utc_days_and_times_are_exact() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(parse_time("--since", "2026-12-01", false).unwrap(), t("2026-12-01T00:00:00Z"));
        assert_eq!(parse_time("--until", "2026-12-01", true).unwrap(), t("2026-12-02T00:00:00Z"));
        assert_eq!(parse_time("--until", "2026-12-01T09:30:00+09:00", true).unwrap(), t("2026-12-01T00:30:00Z"));
        assert_eq!(parse_time("--since", "yesterday", false).unwrap_err().code, 2);
    }
}
