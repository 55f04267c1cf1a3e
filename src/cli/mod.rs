//! The headless command line: every action a technician can take on screen is also a subcommand.

mod audit;
mod data;
mod db;
mod dep;
mod profiles;
mod qr;
mod scan;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::Settings;
use crate::store::{SledStore, StoreError};

pub const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  refused: rejected rows, not found, not registered, database in use\n  2  usage error";

#[derive(Parser, Debug)]
#[command(name = "kitting", version, about = "A terminal workstation for bulk device enrollment", after_help = EXIT_CODES)]
pub struct Cli {
    /// Database: a directory, or postgres://USER@HOST[:PORT]/DBNAME [default: ~/.local/share/kitting/db]
    #[arg(long, global = true, env = "KITTING_DB", value_name = "DB")]
    pub db: Option<PathBuf>,
    /// Configuration file [default: ~/.config/kitting/config.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List, create, show, edit and delete bulk-enrollment profiles
    #[command(subcommand)]
    Profiles(ProfilesCmd),
    /// Import an Android bulk-enrollment CSV into a profile (all-or-nothing by default)
    Import(ImportArgs),
    /// Download Existing Inventory: write every device of a profile, with its status, as CSV
    Export {
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// Output file [default: standard output]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the output file if it exists
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// List, add, edit and delete the devices of a profile
    #[command(subcommand)]
    Devices(DevicesCmd),
    /// Show, refresh or extend a profile's enrollment token
    #[command(subcommand)]
    Token(TokenCmd),
    /// Show or modify a profile's configuration (vendor keys, Android system extras, custom keys)
    #[command(subcommand)]
    Config(ConfigCmd),
    /// List, add, edit and delete users
    #[command(subcommand)]
    Users(UsersCmd),
    /// Draw a profile's provisioning QR code, or write it as SVG/PNG, or print its payload
    Qr(QrArgs),
    /// Register a device as it presents itself (token and identifiers)
    Register(RegisterArgs),
    /// Write a CSV template
    #[command(subcommand)]
    Template(TemplateCmd),
    /// Verify that device counts and indexes agree with the devices
    Check,
    /// Apple DEP device information: import, export, list, show, edit, delete, check in, withdraw, outbox
    #[command(subcommand)]
    Dep(dep::DepCmd),
    /// The DEP catalog: organizations, templates and device tags
    #[command(subcommand)]
    Catalog(dep::CatalogCmd),
    /// The audit trail: who did what, newest first
    Audit(audit::AuditArgs),
    /// The scan station: each scan from a barcode scanner adds a device to a profile, or verifies it
    Scan(scan::ScanArgs),
    /// Own the database and serve it to other kitting processes over a socket in its directory
    Serve(serve::ServeArgs),
    /// The database directory: share it with a Unix group, or make it private
    #[command(subcommand)]
    Db(db::DbCmd),
    /// Find a device anywhere: by IMEI, serial number or DEP identifier, in every profile and DEP record
    Find {
        value: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Csv,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum ProfilesCmd {
    /// List every profile
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Create an empty profile
    Create(CreateArgs),
    /// Show a profile
    Show { name: String },
    /// Rename a profile, change its description or associated user
    Edit {
        name: String,
        #[arg(long, value_name = "NEW")]
        rename: Option<String>,
        /// New description ("" clears it)
        #[arg(long, value_name = "D")]
        description: Option<String>,
        /// Associated user ("" clears it)
        #[arg(long, value_name = "U")]
        user: Option<String>,
    },
    /// Delete a profile and all its devices
    Delete {
        name: String,
        /// Confirm the deletion
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    pub name: String,
    #[arg(long, value_name = "D")]
    pub description: Option<String>,
    /// Assign custom attributes without token: devices register by their identifiers alone
    #[arg(long)]
    pub without_token: bool,
    /// Associated user (username)
    #[arg(long, value_name = "U")]
    pub user: Option<String>,
    /// Token lifetime in days, 7 to 99 [default: token_days from the config, else 7]
    #[arg(long, value_name = "N")]
    pub token_days: Option<u32>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    pub file: PathBuf,
    #[arg(long, value_name = "NAME")]
    pub profile: String,
    /// Create the profile if it does not exist (with the options below)
    #[arg(long)]
    pub create: bool,
    /// Check every row and report, writing nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Import the valid rows even if some are rejected
    #[arg(long)]
    pub skip_invalid: bool,
    /// Write the rejected rows (original columns plus Line and Reason) to FILE
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Replace the --rejects file if it exists
    #[arg(long, requires = "rejects")]
    pub force: bool,
    /// With --create: a description
    #[arg(long, value_name = "D", requires = "create")]
    pub description: Option<String>,
    /// With --create: enroll without token
    #[arg(long, requires = "create")]
    pub without_token: bool,
    /// With --create: the associated user
    #[arg(long, value_name = "U", requires = "create")]
    pub user: Option<String>,
    /// With --create: token lifetime in days (7 to 99)
    #[arg(long, value_name = "N", requires = "create")]
    pub token_days: Option<u32>,
}

#[derive(Args, Debug, Clone)]
pub struct DeviceSelector {
    #[arg(long, value_name = "NAME")]
    pub profile: String,
    /// The device's IMEI
    #[arg(long, value_name = "I", conflicts_with_all = ["serial", "manufacturer"], required_unless_present = "serial")]
    pub imei: Option<String>,
    /// The device's serial number (with --manufacturer)
    #[arg(long, value_name = "S", requires = "manufacturer")]
    pub serial: Option<String>,
    #[arg(long, value_name = "M", requires = "serial")]
    pub manufacturer: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum DevicesCmd {
    /// List a profile's devices
    List {
        #[arg(long, value_name = "NAME")]
        profile: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Add More Devices: add one device by hand
    Add {
        #[arg(long, value_name = "NAME")]
        profile: String,
        #[arg(long, value_name = "I")]
        imei: Option<String>,
        /// A dual-SIM device's second IMEI
        #[arg(long, value_name = "I")]
        imei2: Option<String>,
        #[arg(long, value_name = "S")]
        serial: Option<String>,
        #[arg(long, value_name = "M")]
        manufacturer: Option<String>,
        /// A custom attribute, NAME=VALUE (repeatable)
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attrs: Vec<String>,
    },
    /// Edit a device's identifiers or custom attributes
    Edit {
        #[command(flatten)]
        which: DeviceSelector,
        /// New IMEI ("" clears it)
        #[arg(long, value_name = "I")]
        set_imei: Option<String>,
        /// New second IMEI of a dual-SIM device ("" clears it)
        #[arg(long, value_name = "I")]
        set_imei2: Option<String>,
        /// New serial number ("" clears it)
        #[arg(long, value_name = "S")]
        set_serial: Option<String>,
        /// New manufacturer ("" clears it)
        #[arg(long, value_name = "M")]
        set_manufacturer: Option<String>,
        /// Set a custom attribute, NAME=VALUE (repeatable)
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attrs: Vec<String>,
        /// Remove a custom attribute (repeatable)
        #[arg(long = "unset-attr", value_name = "NAME")]
        unset_attrs: Vec<String>,
    },
    /// Delete a device
    Delete {
        #[command(flatten)]
        which: DeviceSelector,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Show the token and its expiry
    Show {
        #[arg(long, value_name = "NAME")]
        profile: String,
    },
    /// Issue a new token (the old one stops working)
    Refresh {
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// Lifetime of the new token, 7 to 99 days [default: the old token's lifetime, else token_days from
        /// the config, else 7]
        #[arg(long, value_name = "N")]
        days: Option<u32>,
    },
    /// Add N days (7 to 99) to the expiry (counted from now if it has passed)
    Extend {
        #[arg(long, value_name = "NAME")]
        profile: String,
        #[arg(long, value_name = "N", default_value_t = 7)]
        days: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Show the configuration and the site's admin settings (the Wi-Fi password masked)
    Show {
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// Show the Wi-Fi password in clear
        #[arg(long)]
        reveal: bool,
    },
    /// Modify Configuration
    Set {
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// A vendor key for the admin extras bundle, KEY=VALUE (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        vendor: Vec<String>,
        /// A pre-defined Android system extra, NAME=VALUE (repeatable; `config show` lists the names)
        #[arg(long, value_name = "NAME=VALUE")]
        system: Vec<String>,
        /// A custom Android system key, android.app.extra.KEY=VALUE (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        custom: Vec<String>,
        /// Remove a key from any group (repeatable)
        #[arg(long, value_name = "KEY")]
        unset: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCmd {
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    Add {
        username: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
    },
    Edit {
        username: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    Delete {
        username: String,
    },
}

#[derive(Args, Debug)]
pub struct QrArgs {
    #[arg(long, value_name = "NAME")]
    pub profile: String,
    /// Write the code as SVG
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write the code as PNG
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Replace the --svg or --png file if it exists
    #[arg(long)]
    pub force: bool,
    /// Print the provisioning JSON instead of the code
    #[arg(long)]
    pub payload: bool,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// The enrollment token (tokens are URL-safe base64 and may start with '-')
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub token: Option<String>,
    #[arg(long, value_name = "I")]
    pub imei: Option<String>,
    #[arg(long, value_name = "S")]
    pub serial: Option<String>,
    #[arg(long, value_name = "M")]
    pub manufacturer: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum TemplateCmd {
    /// The Android bulk-enrollment CSV template
    Android {
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// The DEP device-information CSV template (every column, with the seed's first example)
    Dep {
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(long, requires = "output")]
        force: bool,
    },
}

/// A command's failure: the lines for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub lines: Vec<String>,
}

impl Failure {
    pub fn refused(msg: impl Into<String>) -> Failure {
        Failure { code: 1, lines: vec![msg.into()] }
    }
    pub fn usage(msg: impl Into<String>) -> Failure {
        Failure { code: 2, lines: vec![msg.into()] }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::refused(e.to_string())
    }
}

/// A command the core refused (exit code 1); its field maps to the flag where the wording needs one.
impl From<crate::ops::OpError> for Failure {
    fn from(e: crate::ops::OpError) -> Failure {
        match e.field() {
            Some(crate::ops::import::CREATION_SETTINGS) => Failure::usage(format!(
                "{e}: --description, --without-token, --user and --token-days apply only when --create creates it"
            )),
            _ => Failure::refused(e.to_string()),
        }
    }
}

/// A refused file or a store error during an import (the message names file, line and column).
impl From<crate::csv::ImportError> for Failure {
    fn from(e: crate::csv::ImportError) -> Failure {
        Failure::refused(e.to_string())
    }
}

pub type Outcome = Result<(), Failure>;

/// A refusal whose field stands for one of the command's flags, named by that flag
/// (`--days: token days must be between 7 and 99, got 100`); other refusals as they are.
pub fn flagged(flags: &'static [(&'static str, &'static str)]) -> impl Fn(crate::ops::OpError) -> Failure {
    move |e| match e.field().and_then(|f| flags.iter().find(|(field, _)| *field == f)) {
        Some((_, flag)) => Failure::refused(format!("{flag}: {e}")),
        None => e.into(),
    }
}

/// What a command needs: the settings and, opened on first use, the store.
pub struct Context {
    pub settings: Settings,
    pub settings_source: String,
    pub db_dir: PathBuf,
    /// The configuration file named on the command line (a server this process starts reads it too).
    pub config: Option<PathBuf>,
    store: Option<Arc<dyn crate::store::Store>>,
}

impl Context {
    pub fn new(cli: &Cli) -> Result<Context, Failure> {
        let (settings, settings_source) = Settings::load(cli.config.as_deref()).map_err(Failure::usage)?;
        let db_dir = cli.db.clone().or_else(|| settings.db.clone()).unwrap_or_else(crate::settings::default_db_path);
        Ok(Context { settings, settings_source, db_dir, config: cli.config.clone(), store: None })
    }

    /// The database, through its kitting server: the one that answers on the socket in its directory,
    /// or one started in the background when none does (`[server] autostart`, on by default). Several
    /// kitting processes then use it at once. Where no server can be had, the database is opened
    /// directly (this process then owns it, and a refusal names who holds it).
    pub fn store(&mut self) -> Result<Arc<dyn crate::store::Store>, Failure> {
        let autostart = self.settings.server.autostart;
        self.client_or_direct(autostart)
    }

    /// The database through a server that already runs, else opened directly: `kitting check` looks at
    /// a database whose server is stopped without starting one.
    pub fn store_without_starting(&mut self) -> Result<Arc<dyn crate::store::Store>, Failure> {
        self.client_or_direct(false)
    }

    /// The PostgreSQL URL `--db` (or `db =`, or `KITTING_DB`) names, if it names one.
    pub fn postgres_url(&self) -> Option<&str> {
        self.db_dir.to_str().filter(|d| crate::store::postgres::is_url(d))
    }

    fn client_or_direct(&mut self, autostart: bool) -> Result<Arc<dyn crate::store::Store>, Failure> {
        if self.store.is_none() {
            let starter = autostart.then(|| self.starter()).flatten();
            self.store = Some(open_store(&self.db_dir, starter)?);
        }
        Ok(self.store.clone().expect("just opened"))
    }

    /// How this process starts a server: the same kitting binary, on the same database and config.
    fn starter(&self) -> Option<crate::store::remote::Starter> {
        Some(crate::store::remote::Starter {
            exe: std::env::current_exe().ok()?,
            db: self.db_dir.clone(),
            config: self.config.clone(),
            idle_exit: std::time::Duration::from_secs(self.settings.server.idle_exit),
        })
    }

    /// The database opened by this process itself (the server, `db share`): never through a server.
    pub fn own_store(&mut self) -> Result<Arc<SledStore>, Failure> {
        if let Some(url) = self.postgres_url() {
            return Err(Failure::refused(format!(
                "{}: a PostgreSQL database has no kitting server or directory modes; this command is for a \
                 database directory",
                crate::domain::text::sanitize(url)
            )));
        }
        Ok(Arc::new(SledStore::open(&self.db_dir)?))
    }

    /// The core over `store`, acting as this process's user from the command line, now.
    pub fn core<'s>(&self, store: &'s dyn crate::store::Store) -> crate::ops::Ctx<'s> {
        crate::ops::Ctx::new(
            store,
            crate::ops::actor_of_process(crate::domain::audit::FrontEnd::Cli),
            chrono::Utc::now(),
        )
    }
}

/// The store `db` names: a PostgreSQL database (a URL), or a database directory through the kitting
/// server that answers on its socket (started by `starter` when none does), else opened directly (this
/// process then owns it, and a refusal names who holds it).
pub fn open_store(
    db: &std::path::Path,
    starter: Option<crate::store::remote::Starter>,
) -> Result<Arc<dyn crate::store::Store>, Failure> {
    use crate::store::remote::{RemoteStore, nobody_answers};
    if let Some(url) = db.to_str().filter(|d| crate::store::postgres::is_url(d)) {
        let target = crate::store::postgres::Target::parse(url)?;
        return Ok(Arc::new(crate::store::postgres::PgStore::open(target)?));
    }
    let socket = db.join(crate::store::remote::SOCKET);
    Ok(match RemoteStore::open(&socket, starter) {
        Ok(remote) => Arc::new(remote),
        // A refusal by the server (another protocol version, a group) is said as it is.
        Err(e) if nobody_answers(&e) => Arc::new(SledStore::open(db)?),
        Err(e) => return Err(e.into()),
    })
}

/// Parses NAME=VALUE.
pub fn key_value(s: &str) -> Result<(&str, &str), Failure> {
    s.split_once('=').ok_or_else(|| Failure::usage(format!("expected NAME=VALUE, got {s:?}")))
}

/// Runs a parsed command line.
/// A file the command writes (`crate::files::create`), refused as the technician is told: an existing one
/// is replaced only with `--force`, the input never.
pub(crate) fn output_file(
    path: &std::path::Path,
    force: bool,
    input: Option<&std::path::Path>,
) -> Result<std::fs::File, Failure> {
    crate::files::create(path, force, input).map_err(|e| match e {
        crate::files::NotWritten::Exists(_) => Failure::refused(format!("{e} (add --force to replace it)")),
        e => Failure::refused(e.to_string()),
    })
}

pub fn run(cli: Cli) -> Outcome {
    let mut ctx = Context::new(&cli)?;
    let Some(command) = cli.command else {
        return workstation(&mut ctx);
    };
    match command {
        Command::Profiles(cmd) => profiles::run(&mut ctx, cmd),
        Command::Users(cmd) => profiles::users(&mut ctx, cmd),
        Command::Token(cmd) => profiles::token(&mut ctx, cmd),
        Command::Config(cmd) => profiles::config(&mut ctx, cmd),
        Command::Import(args) => data::import(&mut ctx, args),
        Command::Export { profile, output, force } => data::export(&mut ctx, &profile, output, force),
        Command::Devices(cmd) => data::devices(&mut ctx, cmd),
        Command::Register(args) => data::register(&mut ctx, args),
        Command::Check => data::check(&mut ctx),
        Command::Db(cmd) => db::run(&mut ctx, cmd),
        Command::Serve(args) => serve::run(&mut ctx, args),
        Command::Template(TemplateCmd::Android { output, force }) => {
            data::template(crate::csv::android::TEMPLATE, output, force)
        }
        Command::Template(TemplateCmd::Dep { output, force }) => {
            data::template(crate::csv::dep::TEMPLATE, output, force)
        }
        Command::Dep(cmd) => dep::run(&mut ctx, cmd),
        Command::Catalog(cmd) => dep::catalog(&mut ctx, cmd),
        Command::Qr(args) => qr::run(&mut ctx, args),
        Command::Audit(args) => audit::run(&mut ctx, args),
        Command::Scan(args) => scan::run(&mut ctx, args),
        Command::Find { value, format } => scan::find(&mut ctx, &value, format),
    }
}

/// `kitting` with no command: the terminal UI. The database is opened first, so a database in use is
/// refused with the CLI's message before the terminal is touched.
fn workstation(ctx: &mut Context) -> Outcome {
    workstation_with(ctx, None)
}

/// The workstation, opened in the scan station when one is given.
fn workstation_with(ctx: &mut Context, station: Option<crate::ops::scan::Station>) -> Outcome {
    use std::io::IsTerminal;
    let store = ctx.store()?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Failure::usage("the workstation needs a terminal; see kitting --help for the commands"));
    }
    let theme =
        crate::tui::theme::ThemeName::choose(ctx.settings.theme.as_deref(), std::env::var("NO_COLOR").ok().as_deref())
            .map_err(|e| Failure::usage(format!("{}: {e}", ctx.settings_source)))?;
    let keymap = crate::tui::keymap::Keymap::load(&ctx.settings.keys).map_err(Failure::usage)?;
    let mut app = crate::tui::App::new(
        store,
        ctx.settings.clone(),
        ctx.settings_source.clone(),
        keymap,
        crate::tui::theme::Theme::new(theme),
    )?;
    if let Some(station) = station {
        app.open_scan(station).map_err(Failure::refused)?;
    }
    crate::tui::run(app).map_err(Failure::refused)
}

/// Prints rows as aligned columns, every cell made safe for the terminal.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    use crate::domain::text::sanitize;
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| sanitize(c).into_owned()).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &cells {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |r: Vec<String>| {
        let s: Vec<String> = r.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in cells {
        line(r);
    }
}

/// Rows written as they come: CSV and JSON go out at once (a 200,000-device listing is never held whole);
/// a table is aligned, so it keeps its rows until `finish`.
pub struct RowWriter<'h> {
    format: Format,
    header: &'h [&'h str],
    table: Vec<Vec<String>>,
    csv: Option<::csv::Writer<std::io::StdoutLock<'static>>>,
    screen: bool,
    json_rows: u64,
}

impl<'h> RowWriter<'h> {
    pub fn new(format: Format, header: &'h [&'h str]) -> RowWriter<'h> {
        use std::io::IsTerminal;
        let screen = std::io::stdout().is_terminal();
        RowWriter { format, header, table: Vec::new(), csv: None, screen, json_rows: 0 }
    }

    pub fn row(&mut self, row: Vec<String>) -> Outcome {
        use crate::domain::text::{escape_formula, sanitize};
        use std::io::Write;
        let fail = |e: std::io::Error| Failure::refused(e.to_string());
        match self.format {
            Format::Table => self.table.push(row),
            Format::Csv => {
                let screen = self.screen;
                self.csv()?
                    .write_record(row.iter().map(|c| {
                        let c = escape_formula(c);
                        if screen { sanitize(&c).into_owned() } else { c.into_owned() }
                    }))
                    .map_err(|e| Failure::refused(e.to_string()))?;
            }
            Format::Json => {
                let object: serde_json::Map<String, serde_json::Value> = self
                    .header
                    .iter()
                    .map(|h| h.to_string())
                    .zip(row.into_iter().map(serde_json::Value::String))
                    .collect();
                let json = serde_json::to_string_pretty(&object).expect("JSON of strings");
                let text = crate::domain::text::json_safe(&json);
                let mut out = std::io::stdout().lock();
                let lead = if self.json_rows == 0 { "[\n" } else { ",\n" };
                let indented = text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n");
                write!(out, "{lead}{indented}").map_err(fail)?;
                self.json_rows += 1;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> Outcome {
        use std::io::Write;
        match self.format {
            Format::Table => {
                print_table(self.header, &self.table);
                Ok(())
            }
            Format::Csv => self.csv()?.flush().map_err(|e| Failure::refused(e.to_string())),
            Format::Json => {
                let end = if self.json_rows == 0 { "[]\n" } else { "\n]\n" };
                std::io::stdout().lock().write_all(end.as_bytes()).map_err(|e| Failure::refused(e.to_string()))
            }
        }
    }

    /// The CSV writer, its header written first (once, also when there is no row).
    fn csv(&mut self) -> Result<&mut ::csv::Writer<std::io::StdoutLock<'static>>, Failure> {
        if self.csv.is_none() {
            let mut w = ::csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record(self.header).map_err(|e| Failure::refused(e.to_string()))?;
            self.csv = Some(w);
        }
        Ok(self.csv.as_mut().expect("just made"))
    }
}

/// Rows as a table, CSV (formula cells escaped; on a terminal control characters shown as visible
/// escapes, piped the data stays byte for byte) or JSON.
pub fn print_rows(format: Format, header: &[&str], rows: Vec<Vec<String>>) -> Outcome {
    let mut out = RowWriter::new(format, header);
    for r in rows {
        out.row(r)?;
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
