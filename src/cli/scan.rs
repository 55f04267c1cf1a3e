//! `kitting scan`: the workstation opened directly in the scan station.

use clap::{Args, ValueEnum};

use super::{Context, Failure, Outcome};
use crate::ops::scan::{ScanMode, Station};

#[derive(Clone, Copy, Debug, ValueEnum, Default)]
pub enum Mode {
    /// Each scan adds a device to the profile
    #[default]
    Receive,
    /// Each scan is checked against the profile and marked kitted
    Verify,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    #[arg(long, value_name = "NAME")]
    pub profile: String,
    #[arg(long, value_enum, default_value_t)]
    pub mode: Mode,
    /// Manufacturer of every device received (a serial number needs one)
    #[arg(long, value_name = "M")]
    pub manufacturer: Option<String>,
    /// A custom attribute every received device gets (repeatable)
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attrs: Vec<String>,
    /// A serial scanned right after an IMEI goes onto that IMEI's device (two-label boxes)
    #[arg(long)]
    pub pair_serial: bool,
    /// A second IMEI scanned right after the first goes onto that device (dual-SIM boxes)
    #[arg(long)]
    pub pair_imei: bool,
    /// Remove a leading S (a serial label's data identifier) from scanned serial numbers
    #[arg(long)]
    pub strip_serial_s: bool,
    /// No terminal bell on refused scans
    #[arg(long)]
    pub no_bell: bool,
}

pub fn run(ctx: &mut Context, args: ScanArgs) -> Outcome {
    let attributes = args
        .attrs
        .iter()
        .map(|a| {
            crate::tui::screens::scan::parse_attributes(a)
                .map_err(|e| Failure::usage(format!("--attr: {e}")))
                .and_then(|v| v.into_iter().next().ok_or_else(|| Failure::usage("--attr: write NAME=VALUE")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let defaults = &ctx.settings.scan;
    let station = Station {
        profile: args.profile,
        mode: match args.mode {
            Mode::Receive => ScanMode::Receive,
            Mode::Verify => ScanMode::Verify,
        },
        manufacturer: args.manufacturer.unwrap_or_default(),
        attributes,
        pair_serial: args.pair_serial || defaults.pair_serial,
        pair_imei: args.pair_imei || defaults.pair_imei,
        strip_serial_s: args.strip_serial_s || defaults.strip_serial_s,
    };
    if args.no_bell {
        ctx.settings.scan.bell = false;
    }
    super::workstation_with(ctx, Some(station))
}

/// `kitting find VALUE`: where a device lives, one row per place (exit 1 when nowhere).
pub fn find(ctx: &mut Context, value: &str, format: super::Format) -> Outcome {
    use crate::ops::find::Found;
    let store = ctx.store()?;
    let found = crate::ops::find::find(store.as_ref(), value).map_err(|e| Failure::refused(e.to_string()))?;
    if found.is_empty() {
        return Err(Failure::refused(format!(
            "no device with {} in any profile or DEP record",
            crate::domain::text::quote(value.trim())
        )));
    }
    let header = ["Where", "Name", "Device", "Matched", "Status"];
    let mut out = super::RowWriter::new(format, &header);
    for f in &found {
        let row = match f {
            Found::Android { profile, device, matched } => {
                vec!["profile".into(), profile.clone(), device.label(), (*matched).into(), device.status.label().into()]
            }
            Found::Dep { record, matched } => vec![
                "DEP record".into(),
                record.identifier.clone(),
                record.serial.clone().unwrap_or_default(),
                (*matched).into(),
                record.state.label().into(),
            ],
        };
        out.row(row)?;
    }
    out.finish()
}
