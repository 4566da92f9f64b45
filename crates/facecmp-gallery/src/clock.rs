//! The time as the gallery records it: whole unix seconds, in every row and
//! every comparison (grant windows, crop expiry, session timeouts).

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
