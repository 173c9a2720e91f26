//! In-file directives written as SQL line comments, e.g.
//! `-- rollgate:ignore RULE_A, RULE_B`.
//!
//! A line is a directive only when its first non-blank characters are `--`,
//! optional spaces and `rollgate:`; a comment that mentions rollgate elsewhere
//! is ordinary text. Parsing never fails: mistakes become `DirectiveProblem`s
//! next to whatever did parse. This module does not know which rule names
//! exist, nor where statements start; the review engine checks names and
//! applies `Ignore::offset` to its own statement ranges.

/// Everything the directives in one file say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `-- rollgate:no-transaction`: run the file outside a transaction.
    pub no_transaction: bool,
    /// `-- rollgate:lock-timeout 2s`; the first one wins.
    pub lock_timeout: Option<LockTimeout>,
    /// `ignore` and `ignore-file` directives, in file order.
    pub ignores: Vec<Ignore>,
    pub problems: Vec<DirectiveProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTimeout {
    /// The value as written, e.g. `2s`.
    pub text: String,
    pub milliseconds: u64,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore {
    pub scope: IgnoreScope,
    pub rules: Vec<RuleRef>,
    /// 1-based line of the directive.
    pub line: u32,
    /// Byte offset where the directive's line ends (before its line break).
    /// The statement an `ignore` applies to is the first one starting after it.
    pub offset: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreScope {
    NextStatement,
    File,
}

/// A rule name inside an ignore directive, as written (not validated here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub name: String,
    /// 1-based character column of the name on the directive's line.
    pub column: u32,
}

/// A directive that could not be understood; the message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveProblem {
    pub line: u32,
    /// 1-based character column.
    pub column: u32,
    pub message: String,
}

/// The directive names, for messages that list what is valid.
pub const DIRECTIVE_NAMES: [&str; 4] = ["no-transaction", "ignore", "ignore-file", "lock-timeout"];

/// Reads every directive in `text`. Line breaks may be LF, CRLF or lone CR;
/// offsets and columns refer to `text` as given.
pub fn parse_directives(text: &str) -> Directives {
    let mut directives = Directives::default();
    for (index, (start, line)) in lines(text).enumerate() {
        if let Some(body_start) = directive_body_start(line) {
            let position = LinePosition {
                number: saturating_u32(index + 1),
                end: saturating_u32(start + line.len()),
            };
            parse_directive(line, body_start, position, &mut directives);
        }
    }
    directives
}

#[derive(Clone, Copy)]
struct LinePosition {
    number: u32,
    end: u32,
}

/// Splits on LF, CRLF and lone CR, yielding each line's byte offset and text
/// without its line break.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let line_start = start;
        let Some(break_at) = bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        else {
            start = bytes.len();
            return Some((line_start, &text[line_start..]));
        };
        let line_end = start + break_at;
        let crlf = bytes[line_end] == b'\r' && bytes.get(line_end + 1) == Some(&b'\n');
        start = line_end + if crlf { 2 } else { 1 };
        // Line breaks are ASCII, so `line_end` is a character boundary.
        Some((line_start, &text[line_start..line_end]))
    })
}

/// If `line` is a directive, the byte index just after `rollgate:`.
fn directive_body_start(line: &str) -> Option<usize> {
    // A BOM can precede the first line when the caller did not strip it.
    let comment = line.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let after_dashes = comment.strip_prefix("--")?.trim_start_matches([' ', '\t']);
    let prefix = after_dashes.get(..9)?;
    prefix
        .eq_ignore_ascii_case("rollgate:")
        .then(|| line.len() - after_dashes.len() + 9)
}

fn parse_directive(
    line: &str,
    body_start: usize,
    position: LinePosition,
    directives: &mut Directives,
) {
    let name_start = skip_whitespace(line, body_start);
    let name_end = line[name_start..]
        .find(char::is_whitespace)
        .map_or(line.len(), |i| name_start + i);
    let name = &line[name_start..name_end];
    let argument_start = skip_whitespace(line, name_end);
    let argument = line[argument_start..].trim_end();
    let mut problem = |at: usize, message: String| {
        directives.problems.push(DirectiveProblem {
            line: position.number,
            column: column(line, at),
            message,
        });
    };

    match name.to_ascii_lowercase().as_str() {
        "no-transaction" => {
            // The intent is clear, so honour it, but flag the extra text in
            // case it was meant as a different directive.
            directives.no_transaction = true;
            if !argument.is_empty() {
                problem(
                    argument_start,
                    "`rollgate:no-transaction` takes no value; put explanations on a separate comment line".to_string(),
                );
            }
        }
        scope @ ("ignore" | "ignore-file") => {
            let rules = rule_names(line, argument_start);
            if rules.is_empty() {
                problem(
                    name_start,
                    format!(
                        "`rollgate:{scope}` needs rule names, e.g. `-- rollgate:{scope} RULE_A, RULE_B`"
                    ),
                );
                return;
            }
            let scope = if scope == "ignore" {
                IgnoreScope::NextStatement
            } else {
                IgnoreScope::File
            };
            directives.ignores.push(Ignore {
                scope,
                rules,
                line: position.number,
                offset: position.end,
            });
        }
        "lock-timeout" => match parse_milliseconds(argument) {
            Err(message) => problem(
                if argument.is_empty() {
                    name_start
                } else {
                    argument_start
                },
                message,
            ),
            Ok(_) if directives.lock_timeout.is_some() => problem(
                name_start,
                "`rollgate:lock-timeout` is set more than once in this file; keep only one"
                    .to_string(),
            ),
            Ok(milliseconds) => {
                let text = argument.to_string();
                directives.lock_timeout = Some(LockTimeout {
                    text,
                    milliseconds,
                    line: position.number,
                });
            }
        },
        "" => problem(
            name_start,
            format!(
                "`rollgate:` is missing a directive name; valid directives are: {}",
                DIRECTIVE_NAMES.join(", ")
            ),
        ),
        _ => problem(
            name_start,
            format!(
                "unknown directive `rollgate:{name}`; valid directives are: {}",
                DIRECTIVE_NAMES.join(", ")
            ),
        ),
    }
}

/// Rule names separated by commas and/or whitespace, from byte `from` on.
fn rule_names(line: &str, from: usize) -> Vec<RuleRef> {
    let mut rules = Vec::new();
    let mut push = |start: usize, end: usize| {
        rules.push(RuleRef {
            name: line[start..end].to_string(),
            column: column(line, start),
        });
    };
    let mut name_start = None;
    for (index, c) in line[from..].char_indices() {
        let at = from + index;
        if c == ',' || c.is_whitespace() {
            if let Some(start) = name_start.take() {
                push(start, at);
            }
        } else if name_start.is_none() {
            name_start = Some(at);
        }
    }
    if let Some(start) = name_start {
        push(start, line.len());
    }
    rules
}

/// Parses `<whole number><unit>` with unit `ms`, `s`, `min` or `h`, e.g. `2s`
/// or `500 ms`. The error is a complete message for a `DirectiveProblem`.
fn parse_milliseconds(value: &str) -> Result<u64, String> {
    const EXAMPLE: &str =
        "write a whole number and a unit (ms, s, min or h), e.g. `-- rollgate:lock-timeout 2s`";
    if value.is_empty() {
        return Err(format!("`rollgate:lock-timeout` needs a value; {EXAMPLE}"));
    }
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = (&value[..digits_end], value[digits_end..].trim_start());
    let factor = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!(
                "lock timeout `{value}` is not a duration; {EXAMPLE}"
            ));
        }
    };
    if digits.is_empty() {
        return Err(format!(
            "lock timeout `{value}` is not a duration; {EXAMPLE}"
        ));
    }
    let milliseconds = digits
        .parse::<u64>()
        .ok()
        .and_then(|number| number.checked_mul(factor))
        .ok_or_else(|| {
            format!("lock timeout `{value}` is too large; use a smaller value such as `1h`")
        })?;
    if milliseconds == 0 {
        return Err(format!(
            "lock timeout `{value}` would disable the timeout; use a positive value or remove the directive"
        ));
    }
    Ok(milliseconds)
}

fn skip_whitespace(line: &str, from: usize) -> usize {
    line[from..]
        .find(|c: char| !c.is_whitespace())
        .map_or(line.len(), |i| from + i)
}

/// 1-based character column of byte index `at`.
fn column(line: &str, at: usize) -> u32 {
    saturating_u32(line[..at].chars().count() + 1)
}

/// Lines and offsets past `u32::MAX` only occur in files far above the review
/// size limit; saturating keeps such input from panicking.
fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    /// Renders the parsed directives one per line so tests read like the
    /// output they expect.
    fn check(text: &str, expected: &str) {
        let directives = parse_directives(text);
        let mut actual = String::new();
        if directives.no_transaction {
            actual.push_str("no-transaction\n");
        }
        if let Some(timeout) = &directives.lock_timeout {
            writeln!(
                actual,
                "lock-timeout {} = {}ms (line {})",
                timeout.text, timeout.milliseconds, timeout.line
            )
            .unwrap();
        }
        for ignore in &directives.ignores {
            let rules: Vec<String> = ignore
                .rules
                .iter()
                .map(|r| format!("{}@{}", r.name, r.column))
                .collect();
            writeln!(
                actual,
                "{:?} {} line {} offset {}",
                ignore.scope,
                rules.join(" "),
                ignore.line,
                ignore.offset
            )
            .unwrap();
        }
        for problem in &directives.problems {
            writeln!(
                actual,
                "problem {}:{} {}",
                problem.line, problem.column, problem.message
            )
            .unwrap();
        }
        assert_eq!(actual.trim_end(), expected.trim(), "input:\n{text}");
    }

    #[test]
    fn no_directives() {
        check("", "");
        check("select 1; -- rollgate:no-transaction\n", "");
        check("/* -- rollgate:no-transaction */\n", "");
        check("--- rollgate:no-transaction\n", "");
        check("-- see rollgate:ignore X\n", "");
    }

    #[test]
    fn flags_and_whitespace() {
        check("--rollgate:no-transaction\n", "no-transaction");
        check("  \t--   rollgate:no-transaction   \r\n", "no-transaction");
        check("\u{feff}-- rollgate:no-transaction", "no-transaction");
        check("-- ROLLGATE:No-Transaction", "no-transaction");
        check(
            "-- rollgate:no-transaction please\n",
            "no-transaction\nproblem 1:28 `rollgate:no-transaction` takes no value; put explanations on a separate comment line",
        );
    }

    #[test]
    fn ignores_record_rules_lines_and_offsets() {
        let text = "select 1;\n-- rollgate:ignore RULE_A, RULE_B\nalter table t;\n  --rollgate:ignore-file  X,Y  Z\n";
        check(
            text,
            "NextStatement RULE_A@20 RULE_B@28 line 2 offset 43\nFile X@27 Y@29 Z@32 line 4 offset 91",
        );
        assert_eq!(&text[43..44], "\n");
        check(
            "x\r\n-- rollgate:ignore A\r\n",
            "NextStatement A@20 line 2 offset 23",
        );
        check(
            "x\r-- rollgate:ignore A\r",
            "NextStatement A@20 line 2 offset 22",
        );
        check(
            "-- é\n-- rollgate:ignore é,É",
            "NextStatement é@20 É@22 line 2 offset 30",
        );
    }

    #[test]
    fn ignore_without_rules_is_a_problem() {
        check(
            "-- rollgate:ignore\n-- rollgate:ignore-file , ,\n",
            "problem 1:13 `rollgate:ignore` needs rule names, e.g. `-- rollgate:ignore RULE_A, RULE_B`\n\
             problem 2:13 `rollgate:ignore-file` needs rule names, e.g. `-- rollgate:ignore-file RULE_A, RULE_B`",
        );
    }

    #[test]
    fn lock_timeouts() {
        check(
            "-- rollgate:lock-timeout 2s",
            "lock-timeout 2s = 2000ms (line 1)",
        );
        check(
            "-- rollgate:lock-timeout 500 ms",
            "lock-timeout 500 ms = 500ms (line 1)",
        );
        check(
            "-- rollgate:lock-timeout 1min",
            "lock-timeout 1min = 60000ms (line 1)",
        );
        check(
            "-- rollgate:lock-timeout 1H",
            "lock-timeout 1H = 3600000ms (line 1)",
        );
        check(
            "-- rollgate:lock-timeout 1s\n-- rollgate:lock-timeout 2s",
            "lock-timeout 1s = 1000ms (line 1)\n\
             problem 2:13 `rollgate:lock-timeout` is set more than once in this file; keep only one",
        );
        let example =
            "write a whole number and a unit (ms, s, min or h), e.g. `-- rollgate:lock-timeout 2s`";
        check(
            "-- rollgate:lock-timeout",
            &format!("problem 1:13 `rollgate:lock-timeout` needs a value; {example}"),
        );
        check(
            "-- rollgate:lock-timeout 2",
            &format!("problem 1:26 lock timeout `2` is not a duration; {example}"),
        );
        check(
            "-- rollgate:lock-timeout 1.5s",
            &format!("problem 1:26 lock timeout `1.5s` is not a duration; {example}"),
        );
        check(
            "-- rollgate:lock-timeout s",
            &format!("problem 1:26 lock timeout `s` is not a duration; {example}"),
        );
        check(
            "-- rollgate:lock-timeout 99999999999999999999h",
            "problem 1:26 lock timeout `99999999999999999999h` is too large; use a smaller value such as `1h`",
        );
        check(
            "-- rollgate:lock-timeout 0s",
            "problem 1:26 lock timeout `0s` would disable the timeout; use a positive value or remove the directive",
        );
    }

    #[test]
    fn unknown_directives_list_valid_ones() {
        check(
            "\n-- rollgate:ignroe X",
            "problem 2:13 unknown directive `rollgate:ignroe`; valid directives are: \
             no-transaction, ignore, ignore-file, lock-timeout",
        );
        check(
            "-- rollgate:",
            "problem 1:13 `rollgate:` is missing a directive name; valid directives are: \
             no-transaction, ignore, ignore-file, lock-timeout",
        );
    }
}
