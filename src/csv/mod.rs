//! CSV dialects: the Android bulk-enrollment file (import, rejects, export, template).

pub mod android;
pub mod decode;
pub mod dep;
pub mod rejects;

pub use android::{ImportError, ImportOptions, ImportReport, Progress, Rejected, RowProblem};
pub use rejects::RejectLog;
