//! The provisioning payload and its QR code: decoded with a QR decoder and compared with the payload.

mod common;
use common::{Env, imei};

/// Parses the half-block drawing (SGR colours + '▀') back into module rows: `true` is dark.
fn modules_from_ansi(text: &str) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in text.lines() {
        if !line.contains('▀') {
            continue;
        }
        let (mut fg_dark, mut bg_dark) = (None, None);
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\u{1b}' => {
                    assert_eq!(chars.next(), Some('['));
                    let mut code = String::new();
                    for c in chars.by_ref() {
                        if c == 'm' {
                            break;
                        }
                        code.push(c);
                    }
                    for n in code.split(';') {
                        match n {
                            "30" => fg_dark = Some(true),
                            "97" => fg_dark = Some(false),
                            "40" => bg_dark = Some(true),
                            "107" => bg_dark = Some(false),
                            "0" => (fg_dark, bg_dark) = (None, None),
                            other => panic!("unexpected SGR {other}"),
                        }
                    }
                }
                '▀' => {
                    top.push(fg_dark.expect("explicit foreground on every cell"));
                    bottom.push(bg_dark.expect("explicit background on every cell"));
                }
                other => panic!("unexpected character {other:?} in the drawing"),
            }
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

/// Decodes modules (scaled up, as a camera would see them) with rqrr.
fn decode(modules: &[Vec<bool>]) -> String {
    let scale = 4;
    let h = modules.len();
    let w = modules[0].len();
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w * scale, h * scale, |x, y| {
        if modules[y / scale][x / scale] { 0 } else { 255 }
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one code found");
    grids[0].decode().expect("the code decodes").1
}

fn configured_profile(env: &Env) {
    env.ok(&["profiles", "create", "QR Dock"]);
    env.ok(&[
        "config",
        "set",
        "--profile",
        "QR Dock",
        "--vendor",
        "tenant=acme-warehouse-7",
        "--system",
        "wifi_ssid=Kitting Bench",
        "--system",
        "wifi_password=correct horse battery staple",
        "--system",
        "wifi_security_type=WPA",
        "--system",
        "skip_encryption=false",
        "--system",
        "leave_all_system_apps_enabled=true",
        "--system",
        "locale=ja_JP",
        "--system",
        "time_zone=Asia/Tokyo",
        "--custom",
        "android.app.extra.PROVISIONING_WIFI_HIDDEN=false",
    ]);
    env.ok(&["devices", "add", "--profile", "QR Dock", "--imei", &imei(1)]);
}

#[test]
fn payload_holds_admin_keys_typed_extras_and_the_bundle() {
    let env = Env::new();
    configured_profile(&env);
    let token = env.ok(&["token", "show", "--profile", "QR Dock"]).trim().to_string();
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["qr", "--profile", "QR Dock", "--payload"])).unwrap();
    let k = |s: &str| format!("android.app.extra.PROVISIONING_{s}");
    assert_eq!(v[k("DEVICE_ADMIN_COMPONENT_NAME")], "com.example.mdm/.AdminReceiver");
    assert_eq!(v[k("DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION")], "https://mdm.example.com/agent.apk");
    assert_eq!(v[k("DEVICE_ADMIN_SIGNATURE_CHECKSUM")], "I5YvS0O5hXY46mb01BlRjq4oJJGs2kuUcHvVkAPEXlg");
    assert_eq!(v[k("WIFI_SSID")], "Kitting Bench");
    assert_eq!(v[k("WIFI_SECURITY_TYPE")], "WPA");
    assert_eq!(v[k("SKIP_ENCRYPTION")], false, "booleans are JSON booleans");
    assert_eq!(v[k("LEAVE_ALL_SYSTEM_APPS_ENABLED")], true);
    assert_eq!(v[k("LOCALE")], "ja_JP");
    assert_eq!(v[k("TIME_ZONE")], "Asia/Tokyo");
    assert_eq!(v[k("WIFI_HIDDEN")], "false", "custom keys carry their text");
    let bundle = &v[k("ADMIN_EXTRAS_BUNDLE")];
    assert_eq!(bundle["server_url"], "https://mdm.example.com/enroll");
    assert_eq!(bundle["enrollment_token"], token.as_str());
    assert_eq!(bundle["tenant"], "acme-warehouse-7");
}

#[test]
fn the_drawn_code_scans_back_to_the_payload_with_a_quiet_zone() {
    let env = Env::new();
    configured_profile(&env);
    let payload: serde_json::Value =
        serde_json::from_str(&env.ok(&["qr", "--profile", "QR Dock", "--payload"])).unwrap();
    let drawing = env.ok(&["qr", "--profile", "QR Dock"]);
    let modules = modules_from_ansi(&drawing);
    let n = modules[0].len();
    assert!(modules.iter().all(|r| r.len() == n));
    // The 4-module quiet zone is light on every side (the last row may be padding: also light).
    for i in 0..4 {
        assert!(modules[i].iter().all(|d| !d), "top row {i} is light");
        assert!(modules.iter().all(|r| !r[i] && !r[n - 1 - i]), "side column {i} is light");
        assert!(modules[modules.len() - 1 - i].iter().all(|d| !d), "bottom row is light");
    }
    let decoded: serde_json::Value = serde_json::from_str(&decode(&modules)).unwrap();
    assert_eq!(decoded, payload);
    // The size line: version N needs (4N+25) x (2N+13) cells with the quiet zone.
    let info = drawing.lines().last().unwrap();
    let version: usize = info.split("QR version ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(info.contains(&format!("{}x{} cells", 4 * version + 25, 2 * version + 13)), "{info}");
    assert_eq!(n, 4 * version + 25);
    assert!(info.contains("error correction L"), "{info}");
}

#[test]
fn png_and_svg_files_are_written_and_the_png_scans() {
    let env = Env::new();
    configured_profile(&env);
    let payload: serde_json::Value =
        serde_json::from_str(&env.ok(&["qr", "--profile", "QR Dock", "--payload"])).unwrap();
    let png_path = env.path("code.png");
    let svg_path = env.path("code.svg");
    env.ok(&["qr", "--profile", "QR Dock", "--png", png_path.to_str().unwrap(), "--svg", svg_path.to_str().unwrap()]);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1);
    let decoded: serde_json::Value = serde_json::from_str(&grids[0].decode().unwrap().1).unwrap();
    assert_eq!(decoded, payload);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.contains("#000000"), "{}", &svg[..100]);
}

#[test]
fn qr_needs_the_admin_settings_and_says_which() {
    let env = Env::new();
    std::fs::write(env.config(), "").unwrap();
    env.ok(&["profiles", "create", "P"]);
    let (code, _, err) = env.run(&["qr", "--profile", "P"]);
    assert_eq!(code, 1);
    assert!(err.contains("android.admin_component_name is not set"), "{err}");
}

#[test]
fn a_profile_without_token_has_no_token_in_the_bundle() {
    let env = Env::new();
    env.ok(&["profiles", "create", "Open", "--without-token"]);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["qr", "--profile", "Open", "--payload"])).unwrap();
    let bundle = &v["android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE"];
    assert!(bundle.get("enrollment_token").is_none());
    assert_eq!(bundle["server_url"], "https://mdm.example.com/enroll");
}
