//! Users: add, edit, delete.

use serde::{Deserialize, Serialize};

use super::{Ctx, OpError, Result};
use crate::domain::{User, check_username, text};

/// A user's fields as they may be stored (the store checks that the organizations exist).
pub fn check_user(mut user: User) -> Result<User> {
    user.username = check_username(&user.username).map_err(|e| OpError::invalid("username", e))?;
    user.name = user.name.trim().to_string();
    text::check_plain(&user.name, "name", 128).map_err(|e| OpError::invalid("name", e))?;
    user.description = user.description.trim().to_string();
    text::check_plain(&user.description, "user description", 1024).map_err(|e| OpError::invalid("description", e))?;
    user.email = user.email.trim().to_string();
    if !user.email.is_empty() {
        crate::domain::dep::check_email("email address", &user.email).map_err(|e| OpError::invalid("email", e))?;
    }
    Ok(user)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddUser {
    pub user: User,
}

pub fn add(ctx: &Ctx, c: AddUser) -> Result<()> {
    let target = format!("user {}", c.user.username.trim());
    ctx.audited("user.add", None, &target, &[], || {
        let user = check_user(c.user)?;
        let audit = ctx.done("user.add", None, &target, "user added".into());
        Ok(ctx.store.put_user(user, true, &audit)?)
    })
}

/// Changes the given fields (`None` keeps one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EditUser {
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub description: Option<String>,
    pub organizations: Option<Vec<String>>,
}

pub fn edit(ctx: &Ctx, c: EditUser) -> Result<()> {
    let target = format!("user {}", c.username.trim());
    ctx.audited("user.edit", None, &target, &[], || {
        let mut u = ctx
            .store
            .user(&c.username)?
            .ok_or_else(|| OpError::NotFound(format!("no user named {:?}", c.username.trim())))?;
        let mut said = Vec::new();
        let mut set = |field: &mut String, new: &Option<String>, what: &str| {
            if let Some(v) = new
                && v.trim() != field.as_str()
            {
                *field = v.trim().to_string();
                said.push(what.to_string());
            }
        };
        set(&mut u.name, &c.name, "name");
        set(&mut u.email, &c.email, "email");
        set(&mut u.description, &c.description, "description");
        if let Some(orgs) = &c.organizations
            && orgs != &u.organizations
        {
            u.organizations = orgs.clone();
            said.push("organizations".into());
        }
        let said = if said.is_empty() { "nothing changed".into() } else { format!("changed {}", said.join(", ")) };
        let user = check_user(u)?;
        let audit = ctx.done("user.edit", None, &target, said);
        Ok(ctx.store.put_user(user, false, &audit)?)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteUser {
    pub username: String,
}

/// Deletes a user that no profile or DEP device references (the refusal names them).
pub fn delete(ctx: &Ctx, c: DeleteUser) -> Result<()> {
    let target = format!("user {}", c.username.trim());
    ctx.audited("user.delete", None, &target, &[], || {
        let audit = ctx.done("user.delete", None, &target, "user deleted".into());
        Ok(ctx.store.delete_user(&c.username, &audit)?)
    })
}

/// Why deleting the user would be refused, asked before the technician is: the profiles it is the
/// associated user of, the DEP records it owns. (The store refuses the delete itself, atomically; this
/// is the same rule read ahead, so that a question is never asked only to be refused.)
pub fn delete_refusal(store: &dyn crate::store::Store, username: &str) -> Result<Option<String>> {
    let key = username.trim().to_lowercase();
    let same = |u: &Option<String>| u.as_deref().is_some_and(|u| u.to_lowercase() == key);
    let profiles: Vec<String> =
        store.profiles()?.into_iter().filter(|p| same(&p.user)).map(|p| format!("{:?}", p.name)).collect();
    if !profiles.is_empty() {
        return Ok(Some(format!(
            "user {username:?} is the associated user of profile {}; change those profiles first",
            profiles.join(", ")
        )));
    }
    let owned: Vec<String> = store.dep_devices()?.into_iter().filter(|d| same(&d.user)).map(|d| d.identifier).collect();
    Ok((!owned.is_empty()).then(|| {
        format!("user {username:?} owns DEP device {}; change or delete those devices first", owned.join(", "))
    }))
}
