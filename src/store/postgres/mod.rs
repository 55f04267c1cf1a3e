//! The PostgreSQL store: one inventory for several kitting hosts. This part connects and keeps the
//! schema: `--db postgres://USER@HOST[:PORT]/DBNAME[?sslmode=…]`, the password from `PGPASSWORD` or
//! `~/.pgpass` (never in the URL, a message or the audit trail), TLS through rustls (`tls.rs`), and
//! versioned migrations from `migrations/` applied on first use, each in a transaction. The store
//! contract is in `store.rs`, imports in `import.rs`, DEP in `dep.rs`, the feed in `feed.rs`.

mod binary;
mod dep;
mod feed;
mod import;
mod load;
mod pgpass;
mod store;
mod tls;

pub use store::PgStore;

use std::str::FromStr;

use postgres::Client;
use postgres::config::Host;

use super::{Result, StoreError};

/// The schema version this kitting knows.
pub const SCHEMA_VERSION: u32 = 4;

/// The migrations, in order: version N turns version N-1 into N.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../../migrations/0001_inventory.sql")),
    (2, include_str!("../../../migrations/0002_status_nanoseconds.sql")),
    (3, include_str!("../../../migrations/0003_references_kept_by_kitting.sql")),
    (4, include_str!("../../../migrations/0004_serial_lookups_through_the_key.sql")),
];

/// A lock key of kitting's own (`pg_advisory_xact_lock`): two hosts migrating at once take turns.
const MIGRATION_LOCK: i64 = 0x6b69_7474_696e_6701;

/// Whether `db` names a PostgreSQL database rather than a directory.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// A PostgreSQL database to connect to: its settings, and how messages name it (without a password).
pub struct Target {
    config: postgres::Config,
    /// The URL as given (it holds no password: one in the URL is refused).
    pub shown: String,
    /// The password from the environment or the password file, scrubbed from every message.
    secret: Option<String>,
    tls: tls::Tls,
}

impl Target {
    /// Parses the URL and finds its password: `PGPASSWORD`, else the password file (`PGPASSFILE` or
    /// `~/.pgpass`, as libpq reads it). A password written in the URL is refused (it would show in
    /// process listings, shell history and every message that names the database).
    pub fn parse(url: &str) -> Result<Target> {
        let shown = crate::domain::text::sanitize(url).into_owned();
        let (plain, tls) =
            tls::split(url).map_err(|e| StoreError::Backend(format!("{}: {e}", without_password(&shown))))?;
        let mut config = postgres::Config::from_str(&plain)
            .map_err(|e| StoreError::Backend(format!("{}: not a PostgreSQL URL ({e})", without_password(&shown))))?;
        config.ssl_mode(tls.ssl_mode());
        if config.get_password().is_some() {
            return Err(StoreError::Refused(format!(
                "{}: the URL holds a password; put it in PGPASSWORD or ~/.pgpass instead",
                without_password(&shown)
            )));
        }
        let user = config.get_user().map(str::to_string).unwrap_or_else(crate::os::user);
        if config.get_user().is_none() {
            config.user(&user);
        }
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let dbname = config.get_dbname().unwrap_or(&user).to_string();
        let secret = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()).or_else(|| {
            let file = std::env::var_os("PGPASSFILE")
                .map(std::path::PathBuf::from)
                .or_else(|| dirs::home_dir().map(|h| h.join(".pgpass")))?;
            pgpass::lookup(&file, &host, port, &dbname, &user)
        });
        if let Some(p) = &secret {
            config.password(p);
        }
        Ok(Target { config, shown, secret, tls })
    }

    /// A message about this database, with the password (should a server or driver ever echo it)
    /// replaced.
    fn say(&self, what: impl std::fmt::Display) -> String {
        let text = format!("{}: {what}", self.shown);
        match &self.secret {
            Some(s) if !s.is_empty() => text.replace(s.as_str(), "••••"),
            _ => text,
        }
    }

    /// Connects (over TLS as `sslmode` says) and brings the schema to this kitting's version.
    pub fn open(&self) -> Result<Client> {
        let tls = self.tls.connector().map_err(|e| StoreError::Backend(self.say(e)))?;
        let mut client = self
            .config
            .connect(tls)
            .map_err(|e| StoreError::Backend(self.say(format_args!("cannot connect: {}", with_causes(&e)))))?;
        migrate(&mut client).map_err(|e| match e {
            StoreError::Backend(m) => StoreError::Backend(self.say(m)),
            e => e,
        })?;
        Ok(client)
    }
}

/// An error and what caused it ("error performing TLS handshake: invalid peer certificate: …"): the
/// driver's own message leaves the cause out.
pub(super) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = c.source();
    }
    text
}

/// `postgres://user:secret@host/db` as `postgres://user@host/db`, for a message about a URL refused.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, tail) = rest.split_once('@').unwrap_or(("", rest));
    if auth.is_empty() {
        return url.to_string();
    }
    let user = auth.split_once(':').map_or(auth, |(u, _)| u);
    format!("{scheme}://{user}@{tail}")
}

/// The schema's version as the database records it (0: none yet).
pub fn schema_version(client: &mut impl postgres::GenericClient) -> Result<u32> {
    let exists: bool = client
        .query_one("SELECT to_regclass('kitting_schema') IS NOT NULL", &[])
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row =
        client.query_opt("SELECT version FROM kitting_schema", &[]).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(row.map_or(0, |r| r.get::<_, i32>(0) as u32))
}

/// Applies every migration the database has not had, each in a transaction of its own that also
/// records its version; refuses a database whose schema is newer than this kitting. Returns the version.
pub fn migrate(client: &mut Client) -> Result<u32> {
    let backend = |e: postgres::Error| StoreError::Backend(e.to_string());
    for &(version, sql) in MIGRATIONS {
        let mut tx = client.transaction().map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(backend)?;
        let found = schema_version(&mut tx)?;
        if found > SCHEMA_VERSION {
            return Err(newer(found));
        }
        if found >= version {
            continue;
        }
        tx.batch_execute(sql).map_err(|e| StoreError::Backend(format!("migration {version}: {e}")))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS kitting_schema (version integer NOT NULL); DELETE FROM kitting_schema;",
        )
        .map_err(backend)?;
        tx.execute("INSERT INTO kitting_schema (version) VALUES ($1)", &[&(version as i32)]).map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    let found = schema_version(client)?;
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    Ok(found)
}

fn newer(found: u32) -> StoreError {
    StoreError::Backend(format!(
        "the database has schema version {found}; this kitting knows version {SCHEMA_VERSION}: use a newer kitting"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_password_is_refused_without_showing_it() {
        let e = Target::parse("postgres://ann:s3cret-pw@db.example.com:5433/kitting").err().unwrap().to_string();
        assert!(!e.contains("s3cret-pw"), "{e}");
        assert!(e.contains("postgres://ann@db.example.com:5433/kitting"), "{e}");
        assert!(e.contains("PGPASSWORD or ~/.pgpass"), "{e}");
    }

    #[test]
    fn only_postgres_urls_select_postgresql() {
        assert!(is_url("postgres://ann@host/db") && is_url("postgresql://ann@host/db"));
        assert!(!is_url("/srv/kitting/db") && !is_url("postgres") && !is_url("./postgres://x"));
    }

    #[test]
    fn the_migrations_are_numbered_in_order_up_to_the_schema_version() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    }
}
