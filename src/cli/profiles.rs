//! `profiles`, `users`, `token` and `config`.

use chrono::Utc;

use super::{ConfigCmd, Context, Failure, Outcome, ProfilesCmd, TokenCmd, UsersCmd, key_value, print_rows};
use crate::domain::android::SYSTEM_EXTRAS;
use crate::domain::text::{quote, sanitize};
use crate::domain::{NewProfile, Profile, User};
use crate::ops;

const TIME: &str = "%Y-%m-%d %H:%M UTC";

fn expiry(p: &Profile) -> String {
    match &p.token {
        Some(t) => t.expires.format(TIME).to_string(),
        None => "no token".into(),
    }
}

pub fn run(ctx: &mut Context, cmd: ProfilesCmd) -> Outcome {
    let store = ctx.store()?;
    match cmd {
        ProfilesCmd::List { format } => {
            let rows = store
                .profiles()?
                .into_iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.description.clone().unwrap_or_default(),
                        p.modified.format(TIME).to_string(),
                        p.kind.clone(),
                        p.device_count.to_string(),
                        p.user.clone().unwrap_or_default(),
                        expiry(&p),
                    ]
                })
                .collect();
            let header = [
                "Profile Name",
                "Description",
                "Last modified",
                "Type",
                "No of Devices",
                "Associated User",
                "Token Expiry",
            ];
            print_rows(format, &header, rows)
        }
        ProfilesCmd::Create(a) => {
            let new = NewProfile {
                name: a.name,
                description: a.description,
                without_token: a.without_token,
                user: a.user,
                token_days: a.token_days,
            };
            let command = ops::profiles::CreateProfile { profile: new, default_token_days: ctx.settings.token_days() };
            let flags = &[("description", "--description"), ("token_days", "--token-days"), ("user", "--user")];
            let p = ops::profiles::create(&ctx.core(&*store), command).map_err(super::flagged(flags))?;
            println!("Created profile {} (token expiry: {}).", quote(&p.name), expiry(&p));
            Ok(())
        }
        ProfilesCmd::Show { name } => {
            let p = ops::require_profile(&*store, &name)?;
            let now = Utc::now();
            println!("Profile Name:     {}", sanitize(&p.name));
            println!("Description:      {}", sanitize(p.description.as_deref().unwrap_or("")));
            println!("Type:             {}", sanitize(&p.kind));
            println!("Created:          {}", p.created.format(TIME));
            println!("Last modified:    {}", p.modified.format(TIME));
            println!("Associated User:  {}", sanitize(p.user.as_deref().unwrap_or("")));
            println!("No of Devices:    {}", p.device_count);
            match &p.token {
                Some(t) => println!(
                    "Token:            {} (expires {}, {} days left)",
                    t.masked(),
                    t.expires.format(TIME),
                    t.days_left(now)
                ),
                None => println!("Token:            none (Assign custom attributes without token)"),
            }
            println!("Custom attributes: {}", sanitize(&p.attributes.join(", ")));
            Ok(())
        }
        ProfilesCmd::Edit { name, rename, description, user } => {
            if rename.is_none() && description.is_none() && user.is_none() {
                return Err(Failure::usage("nothing to change: give --rename, --description or --user"));
            }
            let core = ctx.core(&*store);
            let mut current = name.clone();
            if let Some(u) = user {
                let command = ops::profiles::SetProfileUser { profile: current.clone(), user: Some(u), expect: None };
                current = ops::profiles::set_user(&core, command).map_err(super::flagged(&[("user", "--user")]))?.name;
            }
            let p = if rename.is_some() || description.is_some() {
                let command = ops::profiles::EditProfile { profile: current, rename, description, expect: None };
                ops::profiles::edit(&core, command)
                    .map_err(super::flagged(&[("name", "--rename"), ("description", "--description")]))?
            } else {
                ops::require_profile(&*store, &current)?
            };
            println!("Saved profile {}.", quote(&p.name));
            Ok(())
        }
        ProfilesCmd::Delete { name, yes } => {
            let p = ops::require_profile(&*store, &name)?;
            if !yes {
                return Err(Failure::usage(format!(
                    "deleting profile {:?} removes its {} devices; add --yes to confirm",
                    p.name, p.device_count
                )));
            }
            let n =
                ops::profiles::delete(&ctx.core(&*store), ops::profiles::DeleteProfile { profile: p.name.clone() })?;
            println!("Deleted profile {} and its {n} devices.", quote(&p.name));
            Ok(())
        }
    }
}

pub fn users(ctx: &mut Context, cmd: UsersCmd) -> Outcome {
    let store = ctx.store()?;
    match cmd {
        UsersCmd::List { format } => {
            let rows = store.users()?.into_iter().map(|u| vec![u.username, u.name, u.email]).collect();
            print_rows(format, &["Username", "Name", "Email"], rows)
        }
        UsersCmd::Add { username, name, email } => {
            let user = User { username: username.clone(), name, email, ..User::default() };
            ops::users::add(&ctx.core(&*store), ops::users::AddUser { user })
                .map_err(super::flagged(&[("email", "--email"), ("name", "--name")]))?;
            println!("Added user {}.", quote(username.trim()));
            Ok(())
        }
        UsersCmd::Edit { username, name, email } => {
            let command = ops::users::EditUser { username: username.clone(), name, email, ..Default::default() };
            ops::users::edit(&ctx.core(&*store), command)
                .map_err(super::flagged(&[("email", "--email"), ("name", "--name")]))?;
            println!("Saved user {}.", quote(username.trim()));
            Ok(())
        }
        UsersCmd::Delete { username } => {
            ops::users::delete(&ctx.core(&*store), ops::users::DeleteUser { username: username.clone() })?;
            println!("Deleted user {}.", quote(username.trim()));
            Ok(())
        }
    }
}

pub fn token(ctx: &mut Context, cmd: TokenCmd) -> Outcome {
    let store = ctx.store()?;
    let now = Utc::now();
    let show = |p: &Profile| -> Outcome {
        let t = ops::token_of(p)?;
        println!("{}", t.value);
        eprintln!("expires {} ({} days left)", t.expires.format(TIME), t.days_left(now));
        Ok(())
    };
    match cmd {
        TokenCmd::Show { profile } => show(&ops::require_profile(&*store, &profile)?),
        TokenCmd::Refresh { profile, days } => {
            let p = ops::require_profile(&*store, &profile)?;
            // Without --days, the new token lives as long as the one it replaces was issued for.
            let default = ctx.settings.token_days();
            let days = days.unwrap_or_else(|| p.token.as_ref().map_or(default, |t| t.lifetime_or(default)));
            let command = ops::tokens::RefreshToken { profile: p.name.clone(), days };
            show(&ops::tokens::refresh(&ctx.core(&*store), command).map_err(super::flagged(&[("days", "--days")]))?)
        }
        TokenCmd::Extend { profile, days } => {
            let command = ops::tokens::ExtendToken { profile, days };
            show(&ops::tokens::extend(&ctx.core(&*store), command).map_err(super::flagged(&[("days", "--days")]))?)
        }
    }
}

/// What `config show` prints for the Wi-Fi password without `--reveal`.
const MASK: &str = "•••••••• (--reveal shows it)";

pub fn config(ctx: &mut Context, cmd: ConfigCmd) -> Outcome {
    let store = ctx.store()?;
    match cmd {
        ConfigCmd::Show { profile, reveal } => {
            let p = ops::require_profile(&*store, &profile)?;
            let a = &ctx.settings.android;
            println!("Admin settings ({}):", ctx.settings_source);
            for (k, v) in [
                ("admin_component_name", &a.admin_component_name),
                ("package_download_location", &a.package_download_location),
                ("signature_checksum", &a.signature_checksum),
                ("server_url", &a.server_url),
            ] {
                println!("  {k:<28} {}", sanitize(v.as_deref().unwrap_or("(not set)")));
            }
            println!("Vendor keys (admin extras bundle):");
            for (k, v) in &p.config.vendor {
                println!("  {:<28} {}", sanitize(k), sanitize(v));
            }
            println!("Pre-defined Android system extras:");
            for e in SYSTEM_EXTRAS {
                let v = p.config.system.iter().find(|(n, _)| n == e.name).map(|(_, v)| v.to_string());
                // Masked as the token is: a screen shared or recorded does not give the password away.
                let v = v.map(|v| if e.name == "wifi_password" && !reveal { MASK.to_string() } else { v });
                println!("  {:<30} {:<32} {}", e.name, e.label, sanitize(v.as_deref().unwrap_or("-")));
            }
            println!("Custom Android system keys:");
            for (k, v) in &p.config.custom {
                println!("  {} = {}", sanitize(k), sanitize(v));
            }
            Ok(())
        }
        ConfigCmd::Set { profile, vendor, system, custom, unset } => {
            if vendor.is_empty() && system.is_empty() && custom.is_empty() && unset.is_empty() {
                return Err(Failure::usage("nothing to change: give --vendor, --system, --custom or --unset"));
            }
            use ops::profiles::{ConfigChange, ConfigKey};
            let mut set = Vec::new();
            for (group, list) in [(0, &vendor), (1, &system), (2, &custom)] {
                for kv in list {
                    let (k, v) = key_value(kv)?;
                    let (k, v) = (k.to_string(), v.to_string());
                    set.push(match group {
                        0 => ConfigKey::Vendor(k, v),
                        1 => ConfigKey::System(k, v),
                        _ => ConfigKey::Custom(k, v),
                    });
                }
            }
            let command = ops::profiles::ModifyConfiguration {
                profile: profile.clone(),
                change: ConfigChange::Edit { set, unset },
                expect: None,
            };
            let p = ops::profiles::modify_configuration(&ctx.core(&*store), command)?;
            println!("Updated the configuration of profile {}.", quote(&p.name));
            Ok(())
        }
    }
}
