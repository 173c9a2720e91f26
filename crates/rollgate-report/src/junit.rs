//! JUnit XML, for CI systems that show test results but no lint reports:
//! each file is a test case that fails when it has an error. Warnings do
//! not fail a case; they are listed in its `<system-out>`.

use std::io;

use rollgate_review::{Advice, FileReport, Level};

use crate::counted;

pub(crate) fn render(files: &[FileReport], out: &mut dyn io::Write) -> io::Result<()> {
    let tests = files.len();
    let failures = files.iter().filter(|file| errors(file) > 0).count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="rollgate" tests="{tests}" failures="{failures}">"#
    )?;
    writeln!(
        out,
        r#"  <testsuite name="rollgate lint" tests="{tests}" failures="{failures}">"#
    )?;
    for file in files {
        let path = escape(&file.path, true);
        let open = format!(r#"    <testcase name="{path}" classname="rollgate.{path}""#);
        let listing = || {
            let lines: Vec<String> = file
                .advices
                .iter()
                .map(|advice| escape(&advice_line(&file.path, advice), false))
                .collect();
            lines.join("\n")
        };
        match errors(file) {
            0 if file.advices.is_empty() => writeln!(out, "{open}/>")?,
            0 => {
                writeln!(out, "{open}>")?;
                writeln!(out, "      <system-out>{}</system-out>", listing())?;
                writeln!(out, "    </testcase>")?;
            }
            errors => {
                writeln!(out, "{open}>")?;
                writeln!(
                    out,
                    r#"      <failure message="{}" type="ERROR">{}</failure>"#,
                    counted(errors, "error"),
                    listing()
                )?;
                writeln!(out, "    </testcase>")?;
            }
        }
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

fn errors(file: &FileReport) -> usize {
    file.advices
        .iter()
        .filter(|advice| advice.level == Level::Error)
        .count()
}

/// `path:line:col: LEVEL RULE: content`, like a compiler's one-line form.
fn advice_line(path: &str, advice: &Advice) -> String {
    let level = match advice.level {
        Level::Error => "ERROR",
        Level::Warning => "WARNING",
    };
    format!(
        "{path}:{}:{}: {level} {}: {}",
        advice.line, advice.column, advice.rule, advice.content
    )
}

/// Escapes `text` for XML 1.0 character data, or for a double-quoted
/// attribute value when `attribute`. Characters XML 1.0 cannot carry at all,
/// not even as references (most C0 controls), become U+FFFD.
fn escape(text: &str, attribute: bool) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // A parser turns a raw `\r` into `\n`, and in an attribute every
            // raw whitespace character into a space; references survive.
            '\r' => escaped.push_str("&#13;"),
            '\n' if attribute => escaped.push_str("&#10;"),
            '\t' if attribute => escaped.push_str("&#9;"),
            '\t' | '\n' => escaped.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            _ => escaped.push(c),
        }
    }
    escaped
}
