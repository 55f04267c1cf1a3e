//! Whether the terminal can show images, and in which protocol: asked once at start-up, before the
//! terminal's events are read (ratatui-image writes its queries to the terminal and reads the answers).
//!
//! `auto` asks the terminal (kitty graphics, sixel in the device attributes, iTerm2, the cell size in
//! pixels) and uses an image only when a protocol answered; a named protocol in `config.toml` is used
//! whatever the terminal says (tmux passes images on only with `allow-passthrough`, and some terminals
//! answer wrongly); `off` never asks. Every query ends with a device status report, which every terminal
//! answers, so start-up does not wait for a terminal that speaks none of them.

use ratatui_image::picker::{Picker, ProtocolType};

use crate::settings::Graphics;

/// The picker for the QR code's image, or `None` when the code is drawn with characters.
pub fn detect(setting: Graphics) -> Option<Picker> {
    let wanted = match setting {
        Graphics::Off => return None,
        Graphics::Auto => None,
        Graphics::Sixel => Some(ProtocolType::Sixel),
        Graphics::Kitty => Some(ProtocolType::Kitty),
        Graphics::Iterm2 => Some(ProtocolType::Iterm2),
    };
    let mut picker = Picker::from_query_stdio().ok()?;
    match wanted {
        Some(protocol) => picker.set_protocol_type(protocol),
        None if picker.protocol_type() == ProtocolType::Halfblocks => return None,
        None => {}
    }
    Some(picker)
}

/// The protocol's name as the QR screen shows it.
pub fn name(picker: &Picker) -> &'static str {
    match picker.protocol_type() {
        ProtocolType::Halfblocks => "half blocks",
        ProtocolType::Sixel => "sixel",
        ProtocolType::Kitty => "kitty graphics",
        ProtocolType::Iterm2 => "iTerm2 inline",
    }
}
