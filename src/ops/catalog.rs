//! The DEP catalog: organizations, templates and device tags.

use serde::{Deserialize, Serialize};

use super::{Ctx, OpError, Result};
use crate::domain::dep::{CatalogEntry, CatalogKind, check_catalog_name};

fn target(kind: CatalogKind, name: &str) -> String {
    format!("{} {}", kind.title(), name.trim())
}

fn description(d: &Option<String>) -> Option<String> {
    d.as_deref().map(str::trim).filter(|d| !d.is_empty()).map(str::to_string)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogAdd {
    pub kind: CatalogKind,
    pub name: String,
    pub description: Option<String>,
}

pub fn add(ctx: &Ctx, c: CatalogAdd) -> Result<()> {
    let t = target(c.kind, &c.name);
    ctx.audited("catalog.add", None, &t, &[], || {
        let name = check_catalog_name(c.kind, &c.name).map_err(|e| OpError::invalid("name", e))?;
        let audit = ctx.done("catalog.add", None, &t, format!("{} added", c.kind.title()));
        let entry = CatalogEntry { name, description: description(&c.description) };
        Ok(ctx.store.catalog_add(c.kind, entry, &audit)?)
    })
}

/// Renames (`rename`) and/or re-describes an entry; the records that use it follow a rename.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogEdit {
    pub kind: CatalogKind,
    pub name: String,
    pub rename: Option<String>,
    /// `Some("")` clears the description; `None` keeps it.
    pub description: Option<String>,
}

/// Returns how many records followed a rename.
pub fn edit(ctx: &Ctx, c: CatalogEdit) -> Result<u64> {
    let t = target(c.kind, &c.name);
    ctx.audited("catalog.edit", None, &t, &[], || {
        let old = ctx
            .store
            .catalog_entry(c.kind, &c.name)?
            .ok_or_else(|| OpError::NotFound(format!("no {} named {:?}", c.kind.title(), c.name)))?;
        let name = match &c.rename {
            Some(n) => check_catalog_name(c.kind, n).map_err(|e| OpError::invalid("name", e))?,
            None => old.name.clone(),
        };
        let entry = CatalogEntry {
            description: if c.description.is_some() { description(&c.description) } else { old.description.clone() },
            name: name.clone(),
        };
        let said = if name != old.name { format!("renamed to {name}") } else { "description changed".into() };
        let audit = ctx.done("catalog.edit", None, &t, said);
        Ok(ctx.store.catalog_update(c.kind, &old.name, entry, &audit)?)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogDelete {
    pub kind: CatalogKind,
    pub name: String,
}

pub fn delete(ctx: &Ctx, c: CatalogDelete) -> Result<()> {
    let t = target(c.kind, &c.name);
    ctx.audited("catalog.delete", None, &t, &[], || {
        let audit = ctx.done("catalog.delete", None, &t, format!("{} deleted", c.kind.title()));
        Ok(ctx.store.catalog_delete(c.kind, &c.name, &audit)?)
    })
}

/// Why deleting the entry would be refused, asked before the technician is: the users and DEP records
/// that use it (the store refuses the delete itself, atomically; this reads the same rule ahead).
pub fn delete_refusal(store: &dyn crate::store::Store, kind: CatalogKind, name: &str) -> Result<Option<String>> {
    let users = if kind == CatalogKind::Organization { store.users()? } else { Vec::new() };
    let (users, devices) = crate::store::users_of_entry(kind, name, users, store.dep_devices()?);
    Ok((!users.is_empty() || !devices.is_empty()).then(|| {
        format!(
            "{} {name:?} is used by {}; change those first",
            kind.title(),
            crate::store::describe_users_of(&users, &devices)
        )
    }))
}
