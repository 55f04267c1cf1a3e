//! The profile screen's forms: a device's (identifiers checked as typed, one field per custom attribute),
//! Modify Configuration (vendor keys, the Android system extras checked against what Android accepts,
//! custom keys), and a device in full.

use chrono::{DateTime, Utc};

use super::DetailState;
use crate::domain::{Device, DeviceSeq, Profile, ProfileId};
use crate::store::{Lookup, Store};
use crate::tui::form::{Check, FieldId, Form, FormField, FormPurpose, PickOption, line_input};
/// The devices an action applies to: the selected ones, or the one under the cursor.
pub(super) fn targets(d: &DetailState) -> Vec<DeviceSeq> {
    if d.marked.is_empty() {
        d.current().map(|x| vec![x.seq]).unwrap_or_default()
    } else {
        let mut v: Vec<DeviceSeq> = d.marked.iter().copied().collect();
        v.sort_unstable();
        v
    }
}

pub(super) const VENDOR_KEYS: &str = "Vendor keys";
pub(super) const CUSTOM_KEYS: &str = "Custom keys";
pub(super) const ATTRIBUTES: &str = "Custom attributes";

/// A device in full: every identifier and attribute of the profile (empty ones too), status, source, times.
pub(super) fn device_lines(p: &Profile, d: &Device) -> Vec<(String, String)> {
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut lines = vec![
        ("IMEI".to_string(), d.ids.imei.map(|i| i.to_string()).unwrap_or_default()),
        ("Serial Number".to_string(), d.ids.serial.clone().unwrap_or_default()),
        ("Manufacturer".to_string(), d.ids.manufacturer.clone().unwrap_or_default()),
    ];
    // A dual-SIM device's second IMEI, after the first.
    if let Some(second) = d.ids.imei2 {
        lines.insert(1, ("IMEI 2".to_string(), second.to_string()));
    }
    for a in &p.attributes {
        lines.push((a.clone(), d.attribute(a).unwrap_or("").to_string()));
    }
    lines.push(("Status".into(), d.status.label().into()));
    if let Some(at) = d.status.at() {
        lines.push((
            if matches!(d.status, crate::domain::Status::Kitted(_)) { "Kitted at" } else { "Registered at" }.into(),
            time(at),
        ));
    }
    lines.push((
        "Source".into(),
        match &d.source {
            crate::domain::Source::Manual => "added by hand".into(),
            crate::domain::Source::File { name, line } => format!("{name}, line {line}"),
        },
    ));
    lines.push(("Added".into(), time(d.created)));
    lines.push(("Changed".into(), time(d.modified)));
    lines
}

/// Identifier fields, checked as they are typed.
pub(super) fn identifier_fields(ids: Option<&crate::domain::Identifiers>) -> Vec<FormField> {
    let imei = ids.and_then(|i| i.imei).map(|i| i.to_string()).unwrap_or_default();
    let serial = ids.and_then(|i| i.serial.clone()).unwrap_or_default();
    let manufacturer = ids.and_then(|i| i.manufacturer.clone()).unwrap_or_default();
    let imei2 = ids.and_then(|i| i.imei2).map(|i| i.to_string()).unwrap_or_default();
    vec![
        FormField::text(FieldId::Imei, "IMEI", &imei, "15 digits; or serial number and manufacturer")
            .with_check(Check::Imei),
        FormField::text(FieldId::Serial, "Serial", &serial, "serial number")
            .with_check(Check::Identifier("serial number")),
        FormField::text(FieldId::Manufacturer, "Manufacturer", &manufacturer, "as the device reports it")
            .with_check(Check::Identifier("manufacturer")),
        FormField::text(FieldId::Imei2, "IMEI 2", &imei2, "a dual-SIM device's second IMEI (optional)")
            .with_check(Check::Imei),
    ]
}

/// One field per custom attribute of the profile, with the values in `value`.
pub(super) fn attribute_fields(p: &Profile, value: impl Fn(&str) -> String) -> Vec<FormField> {
    p.attributes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let f = FormField::text(FieldId::Attribute(name.clone()), name.clone(), &value(name), "optional")
                .with_check(Check::Attribute(name.clone()));
            if i == 0 { f.in_section(ATTRIBUTES) } else { f }
        })
        .collect()
}

/// The attribute to set on several devices: one of the profile's (typing filters them), or a new name.
pub(super) fn attribute_picker(p: &Profile) -> FormField {
    let options = p.attributes.iter().map(|a| PickOption { value: a.clone(), label: a.clone() }).collect::<Vec<_>>();
    FormField::pick(
        FieldId::AttributeName,
        "Attribute",
        "",
        options,
        "one of the profile's columns (type to filter), or a new name",
    )
}

/// Add More Devices; `previous` (after a device was added) keeps the manufacturer and the attribute values.
pub(super) fn add_device_form(p: &Profile, previous: Option<&Form>) -> Form {
    let mut fields = identifier_fields(None);
    if let Some(m) = previous.map(|f| f.value(FieldId::Manufacturer)).filter(|m| !m.is_empty())
        && let Some(f) = fields.iter_mut().find(|f| f.id == FieldId::Manufacturer)
    {
        f.input = line_input(&m);
    }
    fields.extend(attribute_fields(p, |name| {
        previous.map(|f| f.value(FieldId::Attribute(name.to_string()))).unwrap_or_default()
    }));
    Form::new(format!("Add devices to {}", p.name), FormPurpose::AddDevice(p.id), fields)
}

pub(super) fn edit_device_form(p: &Profile, d: &Device) -> Form {
    let mut fields = identifier_fields(Some(&d.ids));
    fields.extend(attribute_fields(p, |name| d.attribute(name).unwrap_or("").to_string()));
    let mut form = Form::new(format!("Edit device {}", d.label()), FormPurpose::EditDevice(p.id, d.seq), fields);
    form.expect_stamp = Some(d.modified);
    form
}

/// Modify Configuration: vendor keys, the pre-defined Android system extras (typed), custom keys.
pub(super) fn config_form(p: &Profile) -> Form {
    use crate::domain::android::{KeyGroup, SYSTEM_EXTRAS};
    let c = &p.config;
    let mut fields = vec![
        FormField::lines(FieldId::VendorKeys, VENDOR_KEYS, &c.lines(KeyGroup::Vendor), "key = value, one per line")
            .in_section("Vendor keys"),
    ];
    for (i, extra) in SYSTEM_EXTRAS.iter().enumerate() {
        let value = c.system.iter().find(|(n, _)| n == extra.name).map(|(_, v)| v.to_string()).unwrap_or_default();
        let field = match crate::tui::form::extra_choices(extra) {
            Some(options) => FormField::choice(
                FieldId::Extra(extra.name),
                extra.label,
                options,
                &value,
                "Space or Left/Right changes it",
            ),
            None if extra.kind == crate::domain::android::ExtraKind::TimeZone => {
                let zones = crate::domain::android::time_zone_names()
                    .map(|n| PickOption { value: n.to_string(), label: n.to_string() })
                    .collect();
                FormField::pick(
                    FieldId::Extra(extra.name),
                    extra.label,
                    &value,
                    zones,
                    "an IANA name: type to filter, Up/Down to pick",
                )
                .with_check(Check::Extra(extra))
            }
            None => {
                let hint = match extra.kind {
                    crate::domain::android::ExtraKind::Locale => "like en_US; empty: not set",
                    _ => "empty: not set",
                };
                let f = FormField::text(FieldId::Extra(extra.name), extra.label, &value, hint)
                    .with_check(Check::Extra(extra));
                if extra.name == "wifi_password" { f.secret() } else { f }
            }
        };
        fields.push(if i == 0 { field.in_section("Pre-defined Android system extras") } else { field });
    }
    fields.push(
        FormField::lines(
            FieldId::CustomKeys,
            CUSTOM_KEYS,
            &c.lines(KeyGroup::Custom),
            "android.app.extra.KEY = value, one per line",
        )
        .in_section("Custom Android system keys"),
    );
    let mut form =
        Form::new(format!("Modify the configuration of {}", p.name), FormPurpose::ModifyConfig(p.id), fields);
    form.expect_version = Some(p.version);
    form
}

/// What the identifiers typed make together: a device, or one already in a profile (`exclude`: the device
/// being edited).
pub(super) fn device_note(store: &dyn Store, form: &Form, exclude: Option<(ProfileId, DeviceSeq)>) -> Option<String> {
    if [FieldId::Imei, FieldId::Serial, FieldId::Manufacturer].into_iter().all(|id| form.value(id).is_empty())
        || form.fields.iter().any(|f| f.problem.is_some())
    {
        return None;
    }
    let ids = match form.identifiers() {
        Ok(ids) => ids,
        Err(e) => return Some(e),
    };
    let second = match crate::domain::Identifiers::check_second(ids.imei, &form.value(FieldId::Imei2)) {
        Ok(second) => second,
        Err(e) => return Some(format!("IMEI 2: {e}")),
    };
    let mut lookups: Vec<Lookup> = ids.imei.into_iter().chain(second).map(Lookup::Imei).collect();
    if let (Some(serial), Some(manufacturer)) = (&ids.serial, &ids.manufacturer) {
        lookups.push(Lookup::Serial { serial: serial.clone(), manufacturer: manufacturer.clone() });
    }
    for lookup in lookups {
        match store.find(&lookup) {
            Ok(Some((pid, d))) if Some((pid, d.seq)) != exclude => {
                let name = store.profile_by_id(pid).ok().flatten().map(|p| p.name).unwrap_or_default();
                return Some(format!("{lookup} is already in profile {name}"));
            }
            Ok(_) => {}
            Err(e) => return Some(e.to_string()),
        }
    }
    Some("ok: Enter saves".into())
}
