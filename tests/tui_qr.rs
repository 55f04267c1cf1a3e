//! The provisioning QR code as a terminal image: a real 700–900 byte payload fits 80x24 and the image the
//! terminal receives scans back to it.

mod common;

use base64::Engine;
use common::tui::*;
use kitting::domain::android::{AndroidConfig, ExtraValue};
use kitting::ops::profiles::{ConfigChange, ModifyConfiguration};
use kitting::store::Store;
use kitting::tui::action::Action;
use kitting::tui::app::{App, Screen};
use kitting::tui::screens::qr::{Drawing, image_fit};
use kitting::tui::theme::ThemeName;
use kitting::tui::view::buffer_text;
use ratatui_image::picker::{Picker, ProtocolType};

/// A profile configured as a site would: Wi-Fi, locale, time zone, the DPC's own keys.
fn configured(fx: &Fixture) -> String {
    fx.import("Warehouse A", DEVICES);
    let text = |k: &str, v: &str| (k.to_string(), ExtraValue::Text(v.to_string()));
    let config = AndroidConfig {
        vendor: vec![("tenant_id".into(), "7f3c2a9e-51b4-4d0e-9c61-2b8e7d4f0a13".into())],
        system: vec![
            text("wifi_ssid", "Warehouse-Kitting-5G"),
            text("wifi_password", "correct horse battery staple"),
            text("wifi_security_type", "WPA"),
            text("locale", "ja_JP"),
            text("time_zone", "Asia/Tokyo"),
        ],
        custom: vec![],
    };
    let change =
        ModifyConfiguration { profile: "Warehouse A".into(), change: ConfigChange::Replace(config), expect: None };
    kitting::ops::execute(&fx.core(), kitting::ops::Command::ModifyConfiguration(change)).unwrap();
    let profile = fx.store.profile("Warehouse A").unwrap().unwrap();
    let admin = fx.settings.android.complete("config.example.toml").unwrap();
    let payload = kitting::qr::payload_text(&admin, &profile);
    assert!((700..=900).contains(&payload.len()), "a real payload is 700-900 bytes: {}", payload.len());
    payload
}

fn picker(protocol: ProtocolType) -> Picker {
    // 10x20-pixel cells, as most terminals at their default font.
    let mut p = Picker::halfblocks();
    p.set_protocol_type(protocol);
    p
}

fn open_qr(fx: &Fixture, graphics: Option<Picker>) -> App {
    let mut app = fx.app(ThemeName::Dark);
    app.graphics = graphics;
    app.update(Action::Open);
    app.update(Action::Qr);
    assert!(matches!(app.screen(), Screen::Qr(_)), "{:?}", app.status);
    app
}

/// The escape sequence the image widget put in the first cell of the code.
fn image_sequence(buffer: &ratatui::buffer::Buffer) -> (u16, u16, String) {
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            let s = buffer[(x, y)].symbol();
            if s.len() > 100 {
                return (x, y, s.to_string());
            }
        }
    }
    panic!("no image in the frame")
}

fn decode_grey(w: usize, h: usize, grey: impl Fn(usize, usize) -> u8) -> String {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, grey);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one code");
    grids[0].decode().unwrap().1
}

#[test]
fn a_real_payload_fits_80x24_as_an_image_with_several_pixels_per_module() {
    let fx = Fixture::new();
    let payload = configured(&fx);
    let qr = kitting::qr::render::Qr::encode(&payload).unwrap();
    // Drawn with characters it does not fit 80x24 in either drawing.
    let (w, h) = kitting::tui::screens::qr::qr_size(&qr, true);
    assert!(w > 80 || h > 22, "compact: {w}x{h}");
    // As an image of 10x20-pixel cells it does, beside its description.
    let fit = image_fit(qr.full_width(), (10, 20), (80 - 32, 22)).expect("fits");
    assert!(fit.scale >= 3, "{fit:?}");
    assert!(fit.columns <= 48 && fit.rows <= 22, "{fit:?}");
    // Cells of 7x14 pixels (a small font) still give 2 pixels per module.
    assert!(image_fit(qr.full_width(), (7, 14), (80 - 32, 22)).is_some());
    // Below 2 pixels per module, no image.
    assert_eq!(image_fit(qr.full_width(), (1, 2), (80, 22)), None);
}

#[test]
fn the_iterm2_image_sent_to_the_terminal_at_80x24_scans_back_to_the_payload() {
    let fx = Fixture::new();
    let payload = configured(&fx);
    let mut app = open_qr(&fx, Some(picker(ProtocolType::Iterm2)));
    let buffer = draw(&mut app, 80, 24);
    let text = buffer_text(&buffer);
    assert!(text.contains("iTerm2 inline image, 42x21 cells"), "{text}");
    let scale: usize = text
        .lines()
        .find_map(|l| l.trim().strip_suffix(" pixels per module"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the screen names the drawing: {text}"));
    assert!(scale >= 3, "{scale} px per module");
    let (x, y, seq) = image_sequence(&buffer);
    assert_eq!((x, y), (0, 1), "the code starts below the title line");
    // ESC ] 1337 ; File=inline=1;...:BASE64 BEL
    let data = seq.split_once(":").expect("iTerm2 file sequence").1.trim_end_matches('\x07');
    let png = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.line_size / info.width as usize;
    let (w, h) = (info.width as usize, info.height as usize);
    assert!(w <= 480 && h <= 440, "the image covers at most 48x22 cells of 10x20 pixels: {w}x{h}");
    let decoded = decode_grey(w, h, |x, y| {
        let p = &pixels[y * info.line_size + x * channels..];
        // RGBA padding outside the code is transparent: a terminal shows its background, dark here.
        if channels == 4 && p[3] == 0 { 0 } else { p[0] }
    });
    assert_eq!(decoded, payload);
}

#[test]
fn sixel_and_kitty_images_are_drawn_where_the_terminal_speaks_them() {
    let fx = Fixture::new();
    configured(&fx);
    for (protocol, name, start) in
        [(ProtocolType::Sixel, "sixel image", "\x1bP"), (ProtocolType::Kitty, "kitty graphics image", "\x1b_G")]
    {
        let mut app = open_qr(&fx, Some(picker(protocol)));
        let buffer = draw(&mut app, 80, 24);
        let text = buffer_text(&buffer);
        assert!(text.contains(name), "{text}");
        let (_, _, seq) = image_sequence(&buffer);
        assert!(seq.contains(start), "{name}: {:?}", &seq[..40]);
    }
}

#[test]
fn c_goes_through_image_half_blocks_and_compact_and_without_graphics_there_is_no_image() {
    let fx = Fixture::new();
    configured(&fx);
    let mut app = open_qr(&fx, Some(picker(ProtocolType::Sixel)));
    let drawing = |app: &App| match app.screen() {
        Screen::Qr(q) => q.drawing,
        _ => panic!("QR screen"),
    };
    assert_eq!(drawing(&app), Drawing::Image);
    app.update(Action::Compact);
    assert_eq!(drawing(&app), Drawing::HalfBlock);
    let text = buffer_text(&draw(&mut app, 80, 24));
    assert!(text.contains("too small for this QR code"), "{text}");
    app.update(Action::Compact);
    assert_eq!(drawing(&app), Drawing::Compact);
    app.update(Action::Compact);
    assert_eq!(drawing(&app), Drawing::Image);

    let mut app = open_qr(&fx, None);
    assert_eq!(drawing(&app), Drawing::HalfBlock);
    app.update(Action::Compact);
    app.update(Action::Compact);
    assert_eq!(drawing(&app), Drawing::HalfBlock, "no image to go to");
    let text = buffer_text(&draw(&mut app, 80, 24));
    assert!(text.contains("needs"), "the size message names the size needed: {text}");
}

#[test]
fn back_from_the_qr_code_shows_the_profile_as_it_was() {
    let fx = Fixture::new();
    configured(&fx);
    let mut app = open_qr(&fx, None);
    app.update(Action::Back);
    assert!(matches!(app.screen(), Screen::Detail(_)));
}

/// The image's escape sequence (thousands of characters in the code's first cell) named instead, so that
/// a snapshot shows the layout around it.
fn masked(buffer: &ratatui::buffer::Buffer) -> String {
    let mut b = buffer.clone();
    let (x, y, seq) = image_sequence(&b);
    let name = if seq.contains("\x1bP") { "[sixel image]" } else { "[image]" };
    b[(x, y)].set_symbol(name);
    buffer_text(&b)
}

#[test]
fn snapshots_of_the_qr_code_as_an_image_at_80x24_and_120x40() {
    let fx = Fixture::new();
    configured(&fx);
    let mut app = open_qr(&fx, Some(picker(ProtocolType::Sixel)));
    for (w, h) in [(80, 24), (120, 40)] {
        let text = masked(&draw(&mut app, w, h));
        insta::assert_snapshot!(format!("qr_sixel_image_{w}x{h}"), mask(&text));
    }
}
