//! Parts the screens and dialogs share: the table's cursor and filter, a dialog's box, and text made safe
//! for the terminal.

pub mod popup;
pub mod table;
pub mod text;
