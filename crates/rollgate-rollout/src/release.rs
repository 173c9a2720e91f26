//! Release ids: `release_{YYYYMMDD}-RC{n}`, one iteration per release made
//! that day.
//!
//! Pure: the caller passes the date (in the project's time zone) and the ids
//! that already exist; this module never reads a clock or a store.

/// The next release id for `date` (year, month, day): `n` is one more than
/// the highest iteration among `existing` ids of that date (bare ids or
/// names ending in `/releases/{id}`), or 1. Ids of other dates and ids that
/// do not follow the template are ignored. The caller passes a calendar
/// date; the numbers are formatted as given.
pub fn release_id(date: (i32, u32, u32), existing: &[String]) -> String {
    let (year, month, day) = date;
    let prefix = format!("release_{year:04}{month:02}{day:02}-RC");
    let highest = existing
        .iter()
        .filter_map(|name| {
            let id = name.rsplit('/').next().unwrap_or(name);
            let digits = id.strip_prefix(&prefix)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Absurdly long iterations do not parse and are ignored.
            digits.parse::<u64>().ok()
        })
        .max();
    let next = highest.map_or(1, |n| n.saturating_add(1));
    format!("{prefix}{next}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_id_table() {
        let date = (2026, 1, 9);
        let cases: &[(&[&str], &str)] = &[
            (&[], "release_20260109-RC1"),
            (&["release_20260109-RC1"], "release_20260109-RC2"),
            (
                &[
                    "release_20260109-RC3",
                    "release_20260109-RC10",
                    "release_20260109-RC2",
                ],
                "release_20260109-RC11",
            ),
            // Bytebase's zero-padded ids count too.
            (&["release_20260109-RC00"], "release_20260109-RC1"),
            (
                &["projects/hr/releases/release_20260109-RC4"],
                "release_20260109-RC5",
            ),
            // Other dates and other shapes are ignored.
            (
                &[
                    "release_20260108-RC7",
                    "release_20260109-RC",
                    "release_20260109-RCx",
                    "release_20260109-RC+1",
                ],
                "release_20260109-RC1",
            ),
            (
                &["release_20260109-RC1-hotfix", "my_release"],
                "release_20260109-RC1",
            ),
            (
                &["release_20260109-RC99999999999999999999999"],
                "release_20260109-RC1",
            ),
            (
                &["release_20260109-RC18446744073709551615"],
                "release_20260109-RC18446744073709551615",
            ),
        ];
        for (existing, expected) in cases {
            let existing: Vec<String> = existing.iter().map(|s| s.to_string()).collect();
            assert_eq!(release_id(date, &existing), *expected, "{existing:?}");
        }
        assert_eq!(release_id((2025, 12, 31), &[]), "release_20251231-RC1");
    }
}
