//! kitting: a terminal workstation for bulk device enrollment.
//!
//! `domain` is pure logic, `store` the only way to the data, `csv` the file formats, `qr` the provisioning
//! payload and its drawing, `ops` the operations a technician takes (shared by the CLI and the screens).

pub mod cli;
pub mod csv;
pub mod domain;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
pub mod ops;
pub mod os;
pub mod qr;
pub mod settings;
pub mod store;
pub mod tui;
