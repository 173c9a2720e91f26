//! JUnit XML, for CI systems that show test results but no lint reports:
//! each file is a test case that fails when it has an error. Warnings do
//! not fail a case; they are listed in its `<system-out>`.

use std::io;

use rollgate_review::{Advice, FileReport, Level};

use crate::counted;

/// The test cases so far, as XML. The root elements state the totals
/// before any case, so the cases wait for the end; they are kept as text,
/// not as reports, which is all the output needs. One exactly sized string
/// per case rather than one growing string: that would hold up to twice the
/// text while it grows.
#[derive(Default)]
pub(crate) struct Junit {
    tests: usize,
    failures: usize,
    cases: Vec<Box<str>>,
}

impl Junit {
    pub(crate) fn file(&mut self, file: &FileReport) {
        self.tests += 1;
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
        let mut case = String::new();
        match errors(file) {
            0 if file.advices.is_empty() => {
                case.push_str(&open);
                case.push_str("/>\n");
            }
            0 => {
                case.push_str(&open);
                case.push_str(">\n");
                case.push_str(&format!("      <system-out>{}</system-out>\n", listing()));
                case.push_str("    </testcase>\n");
            }
            errors => {
                self.failures += 1;
                case.push_str(&open);
                case.push_str(">\n");
                case.push_str(&format!(
                    "      <failure message=\"{}\" type=\"ERROR\">{}</failure>\n",
                    counted(errors, "error"),
                    listing()
                ));
                case.push_str("    </testcase>\n");
            }
        }
        self.cases.push(case.into_boxed_str());
    }

    pub(crate) fn finish(self, out: &mut dyn io::Write) -> io::Result<()> {
        let Junit {
            tests,
            failures,
            cases,
        } = self;
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            out,
            r#"<testsuites name="rollgate" tests="{tests}" failures="{failures}">"#
        )?;
        writeln!(
            out,
            r#"  <testsuite name="rollgate lint" tests="{tests}" failures="{failures}">"#
        )?;
        for case in cases {
            out.write_all(case.as_bytes())?;
        }
        writeln!(out, "  </testsuite>")?;
        writeln!(out, "</testsuites>")
    }
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
