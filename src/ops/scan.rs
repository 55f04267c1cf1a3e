//! The scan station's commands: one scan received into a profile or verified against it, and the undo of
//! the last one. Each scan is one audit entry (`scan.receive`, `scan.verify`, `scan.undo`), accepted or
//! refused, written in the same atomic write as its change; an accepted scan is durable when it returns.

use serde::{Deserialize, Serialize};

use super::{Ctx, OpError, Result, require_profile};
use crate::domain::scan::{self, ScanKind, ScanRules, Scanned};
use crate::domain::{Device, DeviceSeq, Identifiers, NewDevice, Profile, Source, Status};
use crate::store::Lookup;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanMode {
    /// Each scan adds a device to the profile.
    #[default]
    Receive,
    /// Each scan is looked up in the profile and marked kitted.
    Verify,
}

impl ScanMode {
    pub fn label(self) -> &'static str {
        match self {
            ScanMode::Receive => "receive",
            ScanMode::Verify => "verify",
        }
    }

    fn command(self) -> &'static str {
        match self {
            ScanMode::Receive => "scan.receive",
            ScanMode::Verify => "scan.verify",
        }
    }
}

/// How a scan station is set up (`kitting scan` flags, or the form that opens it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Station {
    pub profile: String,
    pub mode: ScanMode,
    /// The manufacturer of every device received (a serial number needs one).
    pub manufacturer: String,
    /// Custom attributes every received device gets.
    pub attributes: Vec<(String, String)>,
    /// A serial number scanned right after an IMEI goes onto that IMEI's device (dual-label boxes).
    pub pair_serial: bool,
    /// A second IMEI scanned right after the first goes onto that device (dual-SIM boxes).
    #[serde(default)]
    pub pair_imei: bool,
    /// Remove a leading `S` data identifier from serial numbers.
    pub strip_serial_s: bool,
}

/// One scan: what the scanner typed before Enter, Tab or CR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scan {
    pub station: Station,
    pub raw: String,
    /// The device the previous accepted scan added by IMEI alone, which a serial number may pair with.
    pub pair_with: Option<DeviceSeq>,
}

/// What an accepted scan did, and how to undo it.
#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    pub kind: ScanKind,
    pub value: String,
    pub device: Device,
    pub undo: Undo,
    /// What the banner says.
    pub message: String,
}

impl Accepted {
    /// The device the next scan may pair with: one this scan added by IMEI alone, or gave its second IMEI
    /// (a box labelled IMEI 1, IMEI 2, serial).
    pub fn pairs_next(&self) -> Option<DeviceSeq> {
        (matches!(self.undo, Undo::Delete(_) | Undo::UnpairImei(_)) && self.device.ids.serial.is_none())
            .then_some(self.device.seq)
    }
}

/// How to take an accepted scan back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Undo {
    /// Delete the device the scan added.
    Delete(DeviceSeq),
    /// Remove the serial number (and manufacturer) the scan paired with an IMEI's device.
    Unpair(DeviceSeq),
    /// Remove the second IMEI the scan paired with a device.
    UnpairImei(DeviceSeq),
    /// Put the device verified back to pending (only a pending device is marked kitted).
    Unkit(DeviceSeq),
    /// Nothing changed (a device verified again).
    Nothing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UndoScan {
    pub station: Station,
    pub undo: Undo,
}

/// Runs one scan. A scan carrying several values (GS-separated) is handled value by value, each its own
/// entry; what is returned is one result per value, in order, the first refusal ending the scan.
pub fn run(ctx: &Ctx, c: Scan) -> Vec<Result<Accepted>> {
    let rules = ScanRules { strip_serial_s: c.station.strip_serial_s };
    let command = c.station.mode.command();
    let profile = c.station.profile.trim();
    let values = match scan::parse(&c.raw, rules) {
        Ok(v) => v,
        Err(e) => {
            let reason = e.reason.clone();
            return vec![ctx.audited(command, Some(profile), &e.shown, &[], || Err(OpError::invalid("scan", reason)))];
        }
    };
    let mut out = Vec::new();
    let mut pair_with = c.pair_with;
    for v in values {
        let r = ctx.audited(command, Some(profile), &format!("{} {}", v.kind.label(), v.value), &[], || {
            let p = require_profile(ctx.store, profile)?;
            match c.station.mode {
                ScanMode::Receive => receive(ctx, &p, &c.station, &v, pair_with),
                ScanMode::Verify => verify(ctx, &p, &v),
            }
        });
        let failed = r.is_err();
        if let Ok(done) = &r {
            pair_with = done.pairs_next();
        }
        out.push(r);
        if failed {
            break;
        }
    }
    out
}

fn not_android(v: &Scanned) -> OpError {
    OpError::invalid(
        "scan",
        format!(
            "a {} ({}): an Android profile takes an IMEI or a serial number; scan that label",
            v.kind.label(),
            v.value
        ),
    )
}

fn receive(ctx: &Ctx, p: &Profile, s: &Station, v: &Scanned, pair_with: Option<DeviceSeq>) -> Result<Accepted> {
    let command = ScanMode::Receive.command();
    let manufacturer = s.manufacturer.trim();
    let (imei, serial) = match v.kind {
        ScanKind::Imei | ScanKind::Imeisv => (v.value.as_str(), ""),
        ScanKind::Serial => ("", v.value.as_str()),
        ScanKind::Meid | ScanKind::WifiMac => return Err(not_android(v)),
    };
    if !serial.is_empty() && manufacturer.is_empty() {
        return Err(OpError::invalid(
            "manufacturer",
            format!(
                "serial number {serial}: a device received by serial needs a manufacturer; set the station's manufacturer"
            ),
        ));
    }
    // A serial right after an IMEI of a dual-label box: onto that device.
    if s.pair_serial
        && !serial.is_empty()
        && let Some(seq) = pair_with
        && let Some(mut d) = ctx.store.device(p.id, seq)?
        && d.ids.serial.is_none()
    {
        let text = |i: Option<crate::domain::Imei>| i.map(|i| i.to_string()).unwrap_or_default();
        let ids = super::devices::identifiers(&text(d.ids.imei), &text(d.ids.imei2), serial, manufacturer)?;
        let stamp = d.modified;
        d.ids = ids;
        let label = d.label();
        let audit = ctx.done(command, Some(&p.name), &label, format!("serial number {serial} paired with the IMEI"));
        let device = ctx.store.update_device(p.id, d, Some(stamp), &audit)?;
        let message =
            format!("paired: serial {serial} with IMEI {}", device.ids.imei.map(|i| i.to_string()).unwrap_or_default());
        return Ok(Accepted { kind: v.kind, value: v.value.clone(), undo: Undo::Unpair(device.seq), device, message });
    }
    // A second IMEI right after the first of a dual-SIM box: onto that device.
    if s.pair_imei
        && !imei.is_empty()
        && let Some(seq) = pair_with
        && let Some(mut d) = ctx.store.device(p.id, seq)?
        && d.ids.imei.is_some()
        && d.ids.imei2.is_none()
        && d.ids.imei != v.imei
    {
        let second = Identifiers::check_second(d.ids.imei, imei).map_err(|e| OpError::invalid("imei", e))?;
        let stamp = d.modified;
        d.ids.imei2 = second;
        let label = d.label();
        let audit = ctx.done(command, Some(&p.name), &label, format!("second IMEI {imei} paired with the IMEI"));
        let device = ctx.store.update_device(p.id, d, Some(stamp), &audit)?;
        let message = format!("paired: second IMEI {imei} with {label}");
        return Ok(Accepted {
            kind: v.kind,
            value: v.value.clone(),
            undo: Undo::UnpairImei(device.seq),
            device,
            message,
        });
    }
    let ids = super::devices::identifiers(imei, "", serial, if serial.is_empty() { "" } else { manufacturer })?;
    let mut attributes = Vec::new();
    for (k, val) in &s.attributes {
        let (k, val) = super::devices::attribute(p, k, val)?;
        if !val.is_empty() {
            attributes.push((std::sync::Arc::from(k.as_str()), val));
        }
    }
    let new = NewDevice { ids, attributes, status: Status::Pending, source: Source::Manual };
    let label = new.ids.label();
    let audit = ctx.done(command, Some(&p.name), &label, "device received".into());
    let device = ctx.store.add_device(p.id, new, &audit)?;
    let message = format!("received: {label}");
    Ok(Accepted { kind: v.kind, value: v.value.clone(), undo: Undo::Delete(device.seq), device, message })
}

fn lookup_in(ctx: &Ctx, p: &Profile, v: &Scanned) -> Result<Device> {
    let found: Vec<(u32, Device)> = match v.kind {
        ScanKind::Imei | ScanKind::Imeisv => {
            ctx.store.find(&Lookup::Imei(v.imei.expect("an IMEI scan has its IMEI")))?.into_iter().collect()
        }
        ScanKind::Serial => ctx.store.candidates(None, Some(&v.value))?,
        ScanKind::Meid | ScanKind::WifiMac => return Err(not_android(v)),
    };
    let what = format!("{} {}", v.kind.label(), v.value);
    if let Some((_, d)) = found.iter().find(|(id, _)| *id == p.id) {
        return Ok(d.clone());
    }
    match found.first() {
        Some((id, _)) => {
            let other = ctx.store.profile_by_id(*id)?.map(|p| p.name).unwrap_or_default();
            Err(OpError::NotFound(format!("{what} is not in profile {:?}: it is in profile {other:?}", p.name)))
        }
        None => Err(OpError::NotFound(format!("{what} is unknown: not in profile {:?} nor in any other", p.name))),
    }
}

fn verify(ctx: &Ctx, p: &Profile, v: &Scanned) -> Result<Accepted> {
    let d = lookup_in(ctx, p, v)?;
    let label = d.label();
    let (kind, value) = (v.kind, v.value.clone());
    match d.status {
        Status::Pending => {
            let audit = ctx.done(ScanMode::Verify.command(), Some(&p.name), &label, "device kitted".into());
            let device = ctx.store.set_status(p.id, d.seq, Status::Kitted(ctx.now), &audit)?;
            let undo = Undo::Unkit(device.seq);
            Ok(Accepted { kind, value, device, undo, message: format!("kitted: {label}") })
        }
        Status::Kitted(_) | Status::Registered(_) => {
            let already = d.status.label();
            let audit =
                ctx.done(ScanMode::Verify.command(), Some(&p.name), &label, format!("verified again ({already})"));
            ctx.store.append_audit(&audit)?;
            Ok(Accepted { kind, value, device: d, undo: Undo::Nothing, message: format!("already {already}: {label}") })
        }
    }
}

/// Takes back an accepted scan.
pub fn undo(ctx: &Ctx, c: UndoScan) -> Result<Option<Device>> {
    let profile = c.station.profile.trim();
    let seq = match &c.undo {
        Undo::Delete(s) | Undo::Unpair(s) | Undo::UnpairImei(s) | Undo::Unkit(s) => *s,
        Undo::Nothing => return Ok(None),
    };
    ctx.audited("scan.undo", Some(profile), &format!("device #{seq}"), &[], || {
        let p = require_profile(ctx.store, profile)?;
        let d = ctx
            .store
            .device(p.id, seq)?
            .ok_or_else(|| OpError::NotFound(format!("device #{seq} is no longer in profile {:?}", p.name)))?;
        let label = d.label();
        match c.undo {
            Undo::Delete(_) => {
                let audit = ctx.done("scan.undo", Some(&p.name), &label, "scan undone: device removed".into());
                ctx.store.delete_devices(p.id, &[seq], &audit)?;
                Ok(None)
            }
            Undo::Unpair(_) => {
                let stamp = d.modified;
                let mut d = d;
                d.ids = Identifiers { imei: d.ids.imei, imei2: d.ids.imei2, serial: None, manufacturer: None };
                let audit = ctx.done("scan.undo", Some(&p.name), &label, "scan undone: serial number unpaired".into());
                Ok(Some(ctx.store.update_device(p.id, d, Some(stamp), &audit)?))
            }
            Undo::UnpairImei(_) => {
                let stamp = d.modified;
                let mut d = d;
                d.ids.imei2 = None;
                let audit = ctx.done("scan.undo", Some(&p.name), &label, "scan undone: second IMEI unpaired".into());
                Ok(Some(ctx.store.update_device(p.id, d, Some(stamp), &audit)?))
            }
            Undo::Unkit(_) => {
                let audit = ctx.done("scan.undo", Some(&p.name), &label, "scan undone: pending again".into());
                Ok(Some(ctx.store.set_status(p.id, seq, Status::Pending, &audit)?))
            }
            Undo::Nothing => Ok(None),
        }
    })
}
