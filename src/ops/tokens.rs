//! Enrollment tokens: Refresh Token (a new token; the old one stops working) and extend.

use serde::{Deserialize, Serialize};

use super::{Ctx, OpError, Result, require_profile};
use crate::domain::{Profile, Token, token};
use crate::store::ProfileChange;

fn no_token(profile: &Profile) -> OpError {
    OpError::Refused(format!(
        "profile {:?} enrolls without token (\"Assign custom attributes without token\"); it has no token",
        profile.name
    ))
}

pub fn token_of(profile: &Profile) -> Result<&Token> {
    profile.token.as_ref().ok_or_else(|| no_token(profile))
}

fn expires_text(t: &Token) -> String {
    t.expires.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub profile: String,
    /// The new token's lifetime, 7 to 99 days.
    pub days: u32,
}

/// Issues a new token (the old one stops working), valid for `days` days.
pub fn refresh(ctx: &Ctx, c: RefreshToken) -> Result<Profile> {
    let target = format!("profile {:?}", c.profile.trim());
    ctx.audited("token.refresh", Some(c.profile.trim()), &target, &[], || {
        let p = require_profile(ctx.store, &c.profile)?;
        token_of(&p)?;
        let fresh = Token::issue(ctx.now, c.days).map_err(|e| OpError::invalid("days", e))?;
        let said = format!("token refreshed, expires {}", expires_text(&fresh));
        let change = ProfileChange { token: Some(Some(fresh)), ..ProfileChange::default() };
        let audit = ctx.done("token.refresh", Some(&p.name), &target, said);
        Ok(ctx.store.update_profile(p.id, &change, Some(p.version), &audit)?)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtendToken {
    pub profile: String,
    /// Days to add (7 to 99), counted from the expiry or from now if it has passed.
    pub days: u32,
}

pub fn extend(ctx: &Ctx, c: ExtendToken) -> Result<Profile> {
    let target = format!("profile {:?}", c.profile.trim());
    ctx.audited("token.extend", Some(c.profile.trim()), &target, &[], || {
        token::check_days(c.days).map_err(|e| OpError::invalid("days", e))?;
        let p = require_profile(ctx.store, &c.profile)?;
        let mut t = token_of(&p)?.clone();
        t.extend(ctx.now, c.days).map_err(|e| OpError::invalid("days", e))?;
        let said = format!("token extended by {} days, expires {}", c.days, expires_text(&t));
        let change = ProfileChange { token: Some(Some(t)), ..ProfileChange::default() };
        let audit = ctx.done("token.extend", Some(&p.name), &target, said);
        // The version read here: an extension never undoes a refresh made meanwhile.
        Ok(ctx.store.update_profile(p.id, &change, Some(p.version), &audit)?)
    })
}
