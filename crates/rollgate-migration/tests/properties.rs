//! Properties that must hold for any input: the pure parsers never panic, and
//! version ordering is a total order consistent with equality.

use std::cmp::Ordering;

use proptest::prelude::*;
use rollgate_migration::{Checksum, Version, parse_directives, parse_file_name};

/// Dotted versions with leading zeros and parts longer than a u64, so that
/// equal-but-differently-written versions actually occur.
fn dotted_version() -> impl Strategy<Value = String> {
    let part = prop_oneof!["0{0,3}[0-9]{1,2}", "[0-9]{1,30}"];
    (
        proptest::option::of("[vV]"),
        proptest::collection::vec(part, 1..4),
    )
        .prop_map(|(v, parts)| format!("{}{}", v.unwrap_or_default(), parts.join(".")))
}

/// Strings built mostly from the characters the parsers care about, so
/// shrinking lands on interesting cases more often than with pure noise.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "([-_ .vV0-9\r\n\t,:é\u{feff}]|rollgate:|ignore|lock-timeout|_dml.sql)*",
    ]
}

proptest! {
    #[test]
    fn parsers_never_panic(text in tricky_text()) {
        let _ = parse_file_name(&text);
        let _ = Version::parse(&text);
        let _ = Version::split_prefix(&text);
        let directives = parse_directives(&text);
        for ignore in &directives.ignores {
            prop_assert!(ignore.offset as usize <= text.len());
        }
        let checksum = Checksum::of(&text);
        prop_assert!(checksum.matches(&text));
        let _ = Checksum::parse(&text);
    }

    #[test]
    fn version_order_is_total_and_consistent(a in dotted_version(), b in dotted_version(), c in dotted_version()) {
        let (a, b, c) = (Version::parse(&a).unwrap(), Version::parse(&b).unwrap(), Version::parse(&c).unwrap());
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        prop_assert_eq!(a.cmp(&a), Ordering::Equal);
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
        let mut sorted = [a.clone(), b.clone(), c.clone()];
        sorted.sort();
        prop_assert!(sorted.windows(2).all(|pair| pair[0] <= pair[1]));
    }
}
