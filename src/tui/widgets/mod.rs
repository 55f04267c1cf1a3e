//! Parts the screens share: the table's cursor and filter, and text made safe for the terminal.

pub mod table;
pub mod text;
