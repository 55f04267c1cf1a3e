//! What screens and dialogs see: a `Ctx` when they act (the core, the settings, the job runner, the
//! clock), a `DrawCtx` when they draw (theme, keys, clock), and the status line's levels. Below both
//! `screens` and `modals`, so that neither needs the other.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::action::Action;
use super::jobs::Jobs;
use super::keymap::{Context, Keymap};
use super::theme::Theme;
use crate::domain::audit::Actor;
use crate::ops;
use crate::settings::Settings;
use crate::store::Store;

/// What a screen sees when it acts: the store through the core (as this workstation's technician, now),
/// the settings, the job runner, whether the terminal shows images.
pub struct Ctx<'a> {
    pub store: &'a Arc<dyn Store>,
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    pub settings: &'a Settings,
    /// Where the settings were read (named in a message about them).
    pub settings_source: &'a str,
    pub jobs: &'a mut Jobs,
    pub graphics: bool,
}

impl Ctx<'_> {
    /// The core, acting as this workstation's technician.
    pub fn core(&self) -> ops::Ctx<'_> {
        ops::Ctx::new(self.store.as_ref(), self.actor.clone(), self.now)
    }
}

/// What a screen sees when it draws: the theme, the keys (to name them), the time.
pub struct DrawCtx<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub now: DateTime<Utc>,
    /// The terminal's image protocol (the QR code is drawn as an image with it).
    pub graphics: Option<&'a ratatui_image::picker::Picker>,
}

impl DrawCtx<'_> {
    /// The first key of an action, as a label ("d", "Ctrl-r"); empty when none is bound.
    pub fn key(&self, context: Context, action: Action) -> String {
        self.keymap.key_label(context, action).unwrap_or_default()
    }
}

/// How a status message is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// The smallest terminal the workstation draws in.
pub const MIN_SIZE: (u16, u16) = (80, 24);
