//! `facecmp keys create|list|revoke`: API keys for `facecmp serve`.

use facecmp_gallery::Role;

use crate::args::{KeyRole, KeysCommand};
use crate::commands::gallery::{format_time, open_admin};
use crate::outcome::{CliError, Outcome};
use crate::report::print_json;

pub fn run(command: &KeysCommand) -> Result<Outcome, CliError> {
    match command {
        KeysCommand::Create { db, role, name, zones } => {
            let role = match role {
                KeyRole::Admin => Role::Admin,
                KeyRole::Camera => Role::Camera,
            };
            let (key, token) = open_admin(db)?.create_scoped_key(name, role, zones)?;
            let scope =
                if key.zones.is_empty() { String::new() } else { format!(" for {}", key.zones.join(", ")) };
            eprintln!(
                "facecmp: key {} ({}{scope}) created; the token below is shown only once",
                key.id,
                role.as_str()
            );
            outln!("{token}");
        }
        KeysCommand::List(args) => {
            let keys = open_admin(&args.db)?.keys()?;
            if args.json {
                print_json(&keys)?;
            }
            for key in keys.iter().filter(|_| !args.json) {
                let state =
                    key.revoked.map(|t| format!("revoked {}", format_time(t))).unwrap_or("live".into());
                let zones = if key.zones.is_empty() {
                    String::new()
                } else {
                    format!("  zones {}", key.zones.join(","))
                };
                outln!(
                    "{}  {:<6}  {:<20}  created {}  {state}{zones}",
                    key.id,
                    key.role.as_str(),
                    key.name,
                    format_time(key.created)
                );
            }
        }
        KeysCommand::Revoke { db, id } => {
            open_admin(db)?.revoke_key(*id)?;
            outln!("key {id} revoked");
        }
    }
    Ok(Outcome::Yes)
}
