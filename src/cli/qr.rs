//! `qr`: draw the provisioning code in the terminal, or write SVG/PNG, or print the payload.

use std::io::IsTerminal;

use super::{Context, Failure, Outcome, QrArgs};
use crate::ops;
use crate::qr::{self, render::Qr};

pub fn run(ctx: &mut Context, a: QrArgs) -> Outcome {
    let store = ctx.store()?;
    let p = ops::require_profile(&*store, &a.profile)?;
    let admin = ctx.settings.android.complete(&ctx.settings_source).map_err(Failure::refused)?;
    if a.payload {
        let v = qr::payload(&admin, &p);
        println!("{}", crate::domain::text::json_safe(&serde_json::to_string_pretty(&v).expect("JSON value")));
        return Ok(());
    }
    let text = qr::payload_text(&admin, &p);
    let code = Qr::encode(&text).map_err(Failure::refused)?;
    // The code holds the enrollment token and the Wi-Fi password: the files are private (0600).
    let write = |path: &std::path::Path, bytes: &[u8]| {
        let mut f = super::output_file(path, a.force, None)?;
        std::io::Write::write_all(&mut f, bytes)
            .map_err(|e| Failure::refused(format!("{}: {e}", crate::files::name(path))))?;
        println!("Wrote {}.", crate::files::name(path));
        Ok::<(), Failure>(())
    };
    if let Some(path) = &a.svg {
        write(path, code.svg().as_bytes())?;
    }
    if let Some(path) = &a.png {
        write(path, &code.png(8).map_err(Failure::refused)?)?;
    }
    if a.svg.is_some() || a.png.is_some() {
        return Ok(());
    }
    let (cols, rows) = code.half_block_size();
    let info = format!(
        "{} bytes, QR version {}, error correction {}, {cols}x{rows} cells",
        text.len(),
        code.version(),
        code.ec_level()
    );
    if std::io::stdout().is_terminal()
        && let Ok((w, h)) = ratatui::crossterm::terminal::size()
    {
        code.fits(w, h).map_err(Failure::refused)?;
    }
    print!("{}", code.ansi_half_blocks());
    println!("{info}");
    Ok(())
}
