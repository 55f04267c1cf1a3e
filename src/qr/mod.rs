//! The Android Enterprise provisioning payload and its QR code: terminal drawing, SVG, PNG.

pub mod render;

use serde_json::{Map, Value};

use crate::domain::Profile;
use crate::settings::Admin;

pub const ADMIN_EXTRAS_BUNDLE: &str = "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE";

/// Builds the provisioning JSON for a profile.
pub fn payload(admin: &Admin, profile: &Profile) -> Value {
    let mut root = Map::new();
    let mut put = |k: &str, v: Value| {
        root.insert(k.to_string(), v);
    };
    put("android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME", Value::String(admin.component_name.clone()));
    put(
        "android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION",
        Value::String(admin.package_download_location.clone()),
    );
    put(
        "android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM",
        Value::String(admin.signature_checksum.clone()),
    );
    for (name, value) in &profile.config.system {
        if let Some(extra) = crate::domain::android::system_extra(name) {
            put(extra.key, value.to_json());
        }
    }
    for (k, v) in &profile.config.custom {
        put(k, Value::String(v.clone()));
    }
    let mut bundle = Map::new();
    bundle.insert("server_url".into(), Value::String(admin.server_url.clone()));
    if let Some(t) = &profile.token {
        bundle.insert("enrollment_token".into(), Value::String(t.value.clone()));
    }
    for (k, v) in &profile.config.vendor {
        bundle.insert(k.clone(), Value::String(v.clone()));
    }
    put(ADMIN_EXTRAS_BUNDLE, Value::Object(bundle));
    Value::Object(root)
}

/// The payload as compact JSON text, the bytes that go into the QR code.
pub fn payload_text(admin: &Admin, profile: &Profile) -> String {
    serde_json::to_string(&payload(admin, profile)).expect("a JSON value always serializes")
}
