//! An appearance's media time as a player shows it: the one format of the
//! CLI's tables, the contact sheet and the console.

/// `83_400` ms → `1:23.4`; an hour or more → `1:02:05.0`. Tenths are cut,
/// never rounded up: a time just short of a minute is `0:59.9`, not the
/// `0:60.0` that no player shows.
pub fn media_clock(ms: i64) -> String {
    let tenths = ms.max(0) / 100;
    let (minutes, tenths) = (tenths / 600, tenths % 600);
    let (seconds, tenth) = (tenths / 10, tenths % 10);
    if minutes >= 60 {
        format!("{}:{:02}:{seconds:02}.{tenth}", minutes / 60, minutes % 60)
    } else {
        format!("{minutes}:{seconds:02}.{tenth}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_times_read_like_a_player() {
        assert_eq!(media_clock(0), "0:00.0");
        assert_eq!(media_clock(83_400), "1:23.4");
        assert_eq!(media_clock(3_725_000), "1:02:05.0");
        assert_eq!(media_clock(-5), "0:00.0");
    }

    #[test]
    fn tenths_are_cut_not_rounded_up() {
        assert_eq!(media_clock(59_960), "0:59.9");
        assert_eq!(media_clock(83_499), "1:23.4");
        assert_eq!(media_clock(3_599_990), "59:59.9");
        assert_eq!(media_clock(3_600_050), "1:00:00.0");
    }
}
