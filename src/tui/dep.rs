//! The DEP devices tab's and a record's actions (open, add, edit, withdraw, delete, import, export), as
//! `App` carries them out; the record form and its save are `screens::dep_record`'s, the DEP import
//! through the wizard is here.

use std::path::PathBuf;

use chrono::Utc;

use super::action::Action;
use super::app::App;
use super::files::{CSV_FILE, import_path};
use super::form::{ConfirmPurpose, Form, FormField, FormPurpose};
use super::modals::Modal;
use super::modals::wizard::WizardJob;
use super::screens::Screen;
use super::screens::dep_record::DepDetailState;
use super::widgets::text::plural;
use crate::csv::dep::DepReport;
use crate::domain::dep::{DepDevice, DepState};
use crate::ops;

impl App {
    pub(super) fn dep_action(&mut self, action: Action) {
        let Screen::Dep(l) = self.screen_mut() else { return };
        let selected = l.selected().cloned();
        match action {
            Action::Back => self.back(),
            Action::Filter => self.start_filter(),
            Action::Open => {
                if let Some(d) = selected {
                    self.open_record(d);
                }
            }
            Action::AddRecord => {
                self.modal = Some(Modal::Form(super::screens::dep_record::record_form(self.store.as_ref(), None)))
            }
            Action::Import => {
                self.modal = Some(Modal::Form(Form::new(
                    "Import DEP device information",
                    FormPurpose::DepImport,
                    vec![FormField::path(CSV_FILE, "", "Tab completes; Ctrl-t writes the template here")],
                )))
            }
            Action::Export => {
                let path = format!("dep-devices-{}.csv", Utc::now().format("%Y%m%d"));
                self.modal = Some(Modal::Form(Form::new(
                    "Export the users and devices (the import's format)",
                    FormPurpose::DepExport,
                    vec![FormField::path("File", &path, "Tab completes the path")],
                )))
            }
            _ => {
                if let Some(d) = selected {
                    self.record_action(action, d);
                }
            }
        }
    }

    pub(super) fn dep_device_action(&mut self, action: Action) {
        let Screen::DepDevice(d) = self.screen() else { return };
        let device = d.device.clone();
        match action {
            Action::Back => self.back(),
            _ => self.record_action(action, device),
        }
    }

    /// Edit, withdraw or delete one record (from the list or its detail).
    fn record_action(&mut self, action: Action, d: DepDevice) {
        let id = d.identifier.clone();
        match action {
            Action::EditRecord => match d.state.read_only() {
                Some(why) => {
                    if !matches!(self.screen(), Screen::DepDevice(_)) {
                        self.open_record(d);
                    }
                    self.error(format!("read-only: {why}"));
                }
                None => {
                    self.modal =
                        Some(Modal::Form(super::screens::dep_record::record_form(self.store.as_ref(), Some(&d))))
                }
            },
            Action::Withdraw => match d.state {
                DepState::Withdrawn { .. } => self.error(format!("{id} is withdrawn already")),
                _ => {
                    self.modal = Some(Modal::Confirm {
                        text: format!(
                            "Withdraw {id}? It can no longer check in and its record becomes read-only. This cannot \
                             be undone."
                        ),
                        purpose: ConfirmPurpose::WithdrawRecord(id),
                    })
                }
            },
            Action::Delete => {
                self.modal = Some(Modal::Confirm {
                    text: format!("Delete the device record {id} ({})? This cannot be undone.", d.state.label()),
                    purpose: ConfirmPurpose::DeleteRecord(id),
                })
            }
            _ => {}
        }
    }

    fn open_record(&mut self, device: DepDevice) {
        self.screens.push(Screen::DepDevice(Box::new(DepDetailState { device })));
    }

    pub(super) fn catalog_action(&mut self, action: Action) {
        let store = self.store.clone();
        let Screen::Catalog(c) = self.screen() else { return };
        let effect = c.action(action, store.as_ref());
        self.apply(effect);
    }

    /// Saves a DEP form (device record, catalog entry, export); returns what to say.
    pub(super) fn submit_dep(&mut self, form: &Form) -> Result<String, String> {
        let store = self.store.clone();
        match &form.purpose {
            FormPurpose::AddRecord | FormPurpose::EditRecord(_) => self.save_record(form),
            FormPurpose::AddEntry => super::screens::catalog::add(&self.core(), form),
            FormPurpose::EditEntry(kind, old) => super::screens::catalog::edit(&self.core(), *kind, old, form),
            FormPurpose::DepExport => {
                let path = PathBuf::from(form.value("File"));
                if path.as_os_str().is_empty() {
                    return Err("type the file to write".into());
                }
                let file = std::fs::File::create(&path).map_err(|err| format!("{}: {err}", path.display()))?;
                let n = crate::csv::dep::export(store.as_ref(), std::io::BufWriter::new(file))?;
                Ok(format!("wrote {n} row{} to {}", plural(n), path.display()))
            }
            _ => Err("not a DEP form".into()),
        }
    }

    /// A device form saved (see `screens::dep_record::save`); the list puts its cursor on the record.
    fn save_record(&mut self, form: &Form) -> Result<String, String> {
        let (msg, identifier) = super::screens::dep_record::save(&self.core(), self.store.as_ref(), form)?;
        // The list is read again after every save; the cursor goes to this record then.
        if let Some(Screen::Dep(l)) = self.screens.first_mut() {
            l.want = Some(identifier);
        }
        Ok(msg)
    }

    pub(super) fn start_dep_wizard(&mut self, form: &Form) -> Result<(), String> {
        let path = import_path(form, crate::csv::dep::TEMPLATE)?;
        self.open_wizard(WizardJob::Dep, path);
        Ok(())
    }

    pub(super) fn dep_imported(&mut self, r: &DepReport) {
        self.reload_or_report();
        if !r.committed {
            self.error("nothing was imported");
            return;
        }
        let skipped = if r.rejected.is_empty() {
            String::new()
        } else {
            format!("; skipped {} rejected row{}", r.rejected.len(), plural(r.rejected.len() as u64))
        };
        self.info(format!("imported: {}{skipped}", ops::dep::summary(r)));
    }
}
