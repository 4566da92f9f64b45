//! Times as the console shows and reads them: UTC, to the second. Forms
//! use `<input type="datetime-local">` (`2026-11-29T17:40`), read as UTC.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const SHOWN: &[FormatItem<'static>] = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const LOCAL_INPUT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]");
const LOCAL_INPUT_SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// `2026-11-29 17:40:22` (UTC). Takes `&i64` too, as templates pass it.
pub(crate) fn show(unix: impl std::borrow::Borrow<i64>) -> String {
    let unix = *unix.borrow();
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|time| time.format(SHOWN).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// The value of a `datetime-local` input, as unix seconds (UTC). Empty is
/// `None`; anything else unreadable is an error naming the field.
pub(crate) fn parse_input(field: &str, value: Option<&str>) -> Result<Option<i64>, String> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else { return Ok(None) };
    PrimitiveDateTime::parse(value, LOCAL_INPUT)
        .or_else(|_| PrimitiveDateTime::parse(value, LOCAL_INPUT_SECONDS))
        .map(|time| Some(time.assume_utc().unix_timestamp()))
        .map_err(|_| format!("{field}: `{value}` is not a time like 2026-11-29T17:40 (UTC)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_read_back_as_shown() {
        let unix = parse_input("since", Some("2026-11-29T17:40")).unwrap().unwrap();
        assert_eq!(show(unix), "2026-11-29 17:40:00");
        assert_eq!(parse_input("since", Some("  ")).unwrap(), None);
        assert!(parse_input("since", Some("yesterday")).unwrap_err().contains("since: `yesterday`"));
    }
}
