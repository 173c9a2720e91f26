//! SARIF 2.1.0, the format GitHub code scanning and most IDEs import: one
//! run whose driver lists each rule used, in first-seen order, and one
//! result per advice that points at its rule by index.

use std::io;

use rollgate_review::{FileReport, Level};
use serde::Serialize;

use crate::RenderOptions;

pub(crate) fn render(
    files: &[FileReport],
    options: &RenderOptions,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let mut rules: Vec<Rule<'_>> = Vec::new();
    let mut results = Vec::new();
    for file in files {
        for advice in &file.advices {
            let rule_index = match rules.iter().position(|rule| rule.id == advice.rule) {
                Some(index) => index,
                None => {
                    rules.push(Rule {
                        id: &advice.rule,
                        short_description: Message {
                            text: &advice.title,
                        },
                        properties: RuleProperties { code: advice.code },
                    });
                    rules.len() - 1
                }
            };
            results.push(SarifResult {
                rule_id: &advice.rule,
                rule_index,
                level: match advice.level {
                    Level::Error => "error",
                    Level::Warning => "warning",
                },
                message: Message {
                    text: &advice.content,
                },
                locations: [Location {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation {
                            uri: uri_reference(&file.path),
                        },
                        region: Region {
                            start_line: advice.line,
                            start_column: advice.column,
                            end_line: advice.end_line,
                            end_column: advice.end_column,
                        },
                    },
                }],
            });
        }
    }
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "rollgate",
                    version: options.tool_version,
                    rules,
                },
            },
            // Stated because readers disagree on the default, and our
            // columns count characters, not UTF-16 code units.
            column_kind: "unicodeCodePoints",
            results,
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

/// `path` as a relative URI reference. Everything but unreserved characters
/// and `/` is percent-encoded: a space is not allowed in a URI, and a `:` in
/// the first segment would read as a scheme.
fn uri_reference(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    column_kind: &'static str,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
struct Driver<'a> {
    name: &'static str,
    version: &'static str,
    rules: Vec<Rule<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule<'a> {
    id: &'a str,
    short_description: Message<'a>,
    properties: RuleProperties,
}

/// SARIF's property bag: where a tool keeps what SARIF has no field for.
#[derive(Serialize)]
struct RuleProperties {
    code: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Message<'a>,
    locations: [Location; 1],
}

#[derive(Serialize)]
struct Message<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    start_column: u32,
    end_line: u32,
    end_column: u32,
}
