//! Devices of a profile: Add More Devices, edit, delete, set or clear an attribute on many at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Ctx, OpError, Result, plural, require_device, require_profile};
use crate::domain::{
    Device, DeviceSeq, Field, Identifiers, Imei, NewDevice, Profile, Source, Status, check_attribute_name,
    check_attribute_value,
};
use crate::store::Lookup;

/// How a command names a device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DeviceRef {
    /// Its sequence number in the profile (what a screen has).
    Seq(DeviceSeq),
    Imei(String),
    Serial {
        serial: String,
        manufacturer: String,
    },
}

impl DeviceRef {
    fn describe(&self) -> String {
        match self {
            DeviceRef::Seq(s) => format!("device #{s}"),
            DeviceRef::Imei(i) => format!("IMEI {}", i.trim()),
            DeviceRef::Serial { serial, manufacturer } => format!("serial {} ({})", serial.trim(), manufacturer.trim()),
        }
    }
}

fn field_name(f: Field) -> &'static str {
    match f {
        Field::Imei => "imei",
        Field::Imei2 => "imei2",
        Field::Serial => "serial",
        Field::Manufacturer => "manufacturer",
        Field::Attribute => "attribute",
        Field::Status => "status",
        Field::RegisteredAt => "registered_at",
    }
}

/// Validates identifiers (`imei2`: a dual-SIM device's second IMEI, or empty); the first problem names
/// its field.
pub fn identifiers(imei: &str, imei2: &str, serial: &str, manufacturer: &str) -> Result<Identifiers> {
    let mut ids = Identifiers::parse(imei, serial, manufacturer).map_err(|problems| {
        let field = problems.first().map(|(f, _)| field_name(*f)).unwrap_or("imei");
        let reason = problems.iter().map(|(f, m)| format!("{}: {m}", f.header())).collect::<Vec<_>>().join("; ");
        OpError::invalid(field, reason)
    })?;
    ids.imei2 = Identifiers::check_second(ids.imei, imei2)
        .map_err(|e| OpError::invalid("imei2", format!("{}: {e}", Field::Imei2.header())))?;
    Ok(ids)
}

pub fn resolve(ctx: &Ctx, profile: &Profile, r: &DeviceRef) -> Result<Device> {
    let lookup = match r {
        DeviceRef::Seq(seq) => {
            return ctx
                .store
                .device(profile.id, *seq)?
                .ok_or_else(|| OpError::NotFound(format!("device #{seq} is no longer in profile {:?}", profile.name)));
        }
        DeviceRef::Imei(raw) => Lookup::Imei(Imei::parse(raw).map_err(|e| OpError::invalid("imei", e))?),
        DeviceRef::Serial { serial, manufacturer } => {
            Lookup::Serial { serial: serial.clone(), manufacturer: manufacturer.clone() }
        }
    };
    require_device(ctx.store, profile, &lookup)
}

/// An attribute name and value checked, the name spelt as the profile spells it.
pub(crate) fn attribute(profile: &Profile, name: &str, value: &str) -> Result<(String, String)> {
    let name = profile.attribute_name(name);
    check_attribute_name(&name).map_err(|e| OpError::invalid("attribute", e))?;
    check_attribute_value(&name, value).map_err(|e| OpError::invalid("attribute", e))?;
    Ok((name, value.trim().to_string()))
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AddDevice {
    pub profile: String,
    pub imei: String,
    /// A dual-SIM device's second IMEI (empty: none).
    #[serde(default)]
    pub imei2: String,
    pub serial: String,
    pub manufacturer: String,
    /// Custom attributes, name and value; an empty value is no value.
    pub attributes: Vec<(String, String)>,
}

pub fn add(ctx: &Ctx, c: AddDevice) -> Result<Device> {
    let shown = [c.imei.trim(), c.serial.trim(), c.manufacturer.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    // The device as the trail names it once added ("IMEI …"), also when it is refused.
    let target = Identifiers::parse(&c.imei, &c.serial, &c.manufacturer)
        .map(|ids| ids.label())
        .unwrap_or_else(|_| format!("device {shown}"));
    ctx.audited("device.add", Some(c.profile.trim()), &target, &[], || {
        let p = require_profile(ctx.store, &c.profile)?;
        let ids = identifiers(&c.imei, &c.imei2, &c.serial, &c.manufacturer)?;
        let mut attributes = Vec::new();
        for (k, v) in &c.attributes {
            let (k, v) = attribute(&p, k, v)?;
            if !v.is_empty() {
                attributes.push((std::sync::Arc::from(k.as_str()), v));
            }
        }
        let new = NewDevice { ids, attributes, status: Status::Pending, source: Source::Manual };
        let label = new.ids.label();
        let audit = ctx.done("device.add", Some(&p.name), &label, "device added".into());
        Ok(ctx.store.add_device(p.id, new, &audit)?)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EditDevice {
    pub profile: String,
    pub device: DeviceRef,
    /// New identifiers (`Some("")` clears one); `None` keeps it.
    pub imei: Option<String>,
    #[serde(default)]
    pub imei2: Option<String>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    /// Attributes to set (an empty value clears it) and to remove.
    pub set: Vec<(String, String)>,
    pub unset: Vec<String>,
    /// The device's modification stamp when it was read (a conflict if it changed since).
    pub expect: Option<DateTime<Utc>>,
}

pub fn edit(ctx: &Ctx, c: EditDevice) -> Result<Device> {
    let target = c.device.describe();
    ctx.audited("device.edit", Some(c.profile.trim()), &target, &[], || {
        let p = require_profile(ctx.store, &c.profile)?;
        let mut d = resolve(ctx, &p, &c.device)?;
        let label = d.label();
        let keep = |new: &Option<String>, old: Option<String>| new.clone().unwrap_or_else(|| old.unwrap_or_default());
        let ids = identifiers(
            &keep(&c.imei, d.ids.imei.map(|i| i.to_string())),
            &keep(&c.imei2, d.ids.imei2.map(|i| i.to_string())),
            &keep(&c.serial, d.ids.serial.clone()),
            &keep(&c.manufacturer, d.ids.manufacturer.clone()),
        )?;
        let mut said = Vec::new();
        if ids != d.ids {
            said.push("identifiers changed".to_string());
            d.ids = ids;
        }
        for (k, v) in &c.set {
            let (k, v) = attribute(&p, k, v)?;
            let new = Some(v.as_str()).filter(|v| !v.is_empty());
            if d.attribute(&k) != new {
                said.push(if new.is_some() { format!("{k} set") } else { format!("{k} cleared") });
                d.set_attribute(&k, new);
            }
        }
        for k in &c.unset {
            let k = p.attribute_name(k);
            if d.attribute(&k).is_some() {
                said.push(format!("{k} cleared"));
                d.set_attribute(&k, None);
            }
        }
        if said.is_empty() {
            said.push("nothing changed".into());
        }
        let audit = ctx.done("device.edit", Some(&p.name), &label, said.join(", "));
        Ok(ctx.store.update_device(p.id, d, c.expect, &audit)?)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteDevices {
    pub profile: String,
    pub devices: Vec<DeviceRef>,
}

fn targets_text(devices: &[Device]) -> String {
    match devices {
        [one] => one.label(),
        many => format!("{} devices", many.len()),
    }
}

/// Deletes the devices in one atomic write; returns how many were deleted.
pub fn delete(ctx: &Ctx, c: DeleteDevices) -> Result<u64> {
    let target = match c.devices.as_slice() {
        [one] => one.describe(),
        many => format!("{} devices", many.len()),
    };
    ctx.audited("device.delete", Some(c.profile.trim()), &target, &[], || {
        let p = require_profile(ctx.store, &c.profile)?;
        let devices = c.devices.iter().map(|r| resolve(ctx, &p, r)).collect::<Result<Vec<_>>>()?;
        let seqs: Vec<DeviceSeq> = devices.iter().map(|d| d.seq).collect();
        let n = seqs.len() as u64;
        let audit = ctx.done(
            "device.delete",
            Some(&p.name),
            &targets_text(&devices),
            format!("deleted {n} device{}", plural(n)),
        );
        Ok(ctx.store.delete_devices(p.id, &seqs, &audit)?)
    })
}

/// Sets (a value) or clears (`None` or empty) one custom attribute on several devices, in one atomic write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetAttribute {
    pub profile: String,
    pub devices: Vec<DeviceRef>,
    pub name: String,
    pub value: Option<String>,
}

pub fn set_attribute(ctx: &Ctx, c: SetAttribute) -> Result<u64> {
    let target = format!("{} devices", c.devices.len());
    ctx.audited("device.set_attribute", Some(c.profile.trim()), &target, &[], || {
        let p = require_profile(ctx.store, &c.profile)?;
        let (name, value) = attribute(&p, &c.name, c.value.as_deref().unwrap_or(""))?;
        let value = Some(value).filter(|v| !v.is_empty());
        let devices = c.devices.iter().map(|r| resolve(ctx, &p, r)).collect::<Result<Vec<_>>>()?;
        let seqs: Vec<DeviceSeq> = devices.iter().map(|d| d.seq).collect();
        let n = seqs.len() as u64;
        let said = match &value {
            Some(_) => format!("{name} set on {n} device{}", plural(n)),
            None => format!("{name} cleared on {n} device{}", plural(n)),
        };
        let audit = ctx.done("device.set_attribute", Some(&p.name), &targets_text(&devices), said);
        Ok(ctx.store.set_attribute(p.id, &seqs, &name, value.as_deref(), &audit)?)
    })
}
