//! SARIF 2.1.0, the format GitHub code scanning and most IDEs import: one
//! run whose driver lists each rule used, in first-seen order, and one
//! result per advice that points at its rule by index.
//!
//! The run lists its results before its tool, so results can be written as
//! the files come and only the rule list waits for the end: memory grows
//! with the number of distinct rules, not of files. JSON object members
//! have no order, so readers do not mind.

use std::io;

use rollgate_review::{FileReport, Level};
use serde::Serialize;

use crate::{
    RenderOptions,
    pretty::{PrettyJson, end_array},
};

/// The rules seen so far, in first-seen order, and how many results were
/// written. Results are written as they come; the driver, whose rule list
/// is complete only at the end, follows them in the run object.
pub(crate) struct Sarif {
    tool_version: &'static str,
    rules: Vec<Rule>,
    results: usize,
    pretty: PrettyJson,
}

impl Sarif {
    pub(crate) fn start(options: &RenderOptions, out: &mut dyn io::Write) -> io::Result<Sarif> {
        // The bytes of `Log` as serde_json would write it up to the first
        // result; a test checks that the whole document parses.
        out.write_all(
            concat!(
                "{\n",
                "  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n",
                "  \"version\": \"2.1.0\",\n",
                "  \"runs\": [\n",
                "    {\n",
                // Stated because readers disagree on the default, and our
                // columns count characters, not UTF-16 code units.
                "      \"columnKind\": \"unicodeCodePoints\",\n",
                "      \"results\": [",
            )
            .as_bytes(),
        )?;
        Ok(Sarif {
            tool_version: options.tool_version,
            rules: Vec::new(),
            results: 0,
            pretty: PrettyJson::default(),
        })
    }

    pub(crate) fn file(&mut self, file: &FileReport, out: &mut dyn io::Write) -> io::Result<()> {
        if file.advices.is_empty() {
            return Ok(());
        }
        let uri = uri_reference(&file.path);
        for advice in &file.advices {
            let result = SarifResult {
                rule_id: &advice.rule,
                rule_index: self.rule_index(&advice.rule, &advice.title, advice.code),
                level: match advice.level {
                    Level::Error => "error",
                    Level::Warning => "warning",
                },
                message: Message {
                    text: &advice.content,
                },
                locations: [Location {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation { uri: &uri },
                        region: Region {
                            start_line: advice.line,
                            start_column: advice.column,
                            end_line: advice.end_line,
                            end_column: advice.end_column,
                        },
                    },
                }],
            };
            self.pretty
                .write_element(out, &result, self.results, "        ")?;
            self.results += 1;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self, out: &mut dyn io::Write) -> io::Result<()> {
        end_array(out, self.results, "      ")?;
        out.write_all(b",\n      \"tool\": ")?;
        let tool = Tool {
            driver: Driver {
                name: "rollgate",
                version: self.tool_version,
                rules: self.rules,
            },
        };
        self.pretty.write_nested(out, &tool, "      ")?;
        out.write_all(b"\n    }\n  ]\n}\n")
    }

    /// The index of rule `id` in the driver's list, which it joins when new.
    /// A linear search: a review uses a few dozen rules at most.
    fn rule_index(&mut self, id: &str, title: &str, code: u32) -> usize {
        if let Some(index) = self.rules.iter().position(|rule| rule.id == id) {
            return index;
        }
        self.rules.push(Rule {
            id: id.to_owned(),
            short_description: Description {
                text: title.to_owned(),
            },
            properties: RuleProperties { code },
        });
        self.rules.len() - 1
    }
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
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
struct Driver {
    name: &'static str,
    version: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    short_description: Description,
    properties: RuleProperties,
}

/// A rule's title, owned: the rule list outlives the report it came from.
#[derive(Serialize)]
struct Description {
    text: String,
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
    locations: [Location<'a>; 1],
}

#[derive(Serialize)]
struct Message<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation<'a> {
    artifact_location: ArtifactLocation<'a>,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation<'a> {
    uri: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    start_column: u32,
    end_line: u32,
    end_column: u32,
}
