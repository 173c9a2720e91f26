//! `rollgate rules [RULE]`: the rule catalog.

use std::io::Write;

use anyhow::{Result, bail};
use rollgate_review::rule::{PayloadDefaults, TemplateLevels};
use rollgate_review::{RuleDef, rules};

use crate::EXIT_OK;
use crate::cli::{RulesArgs, RulesFormat};

pub fn run(args: RulesArgs) -> Result<u8> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let selected: Vec<&'static RuleDef> = match &args.rule {
        Some(name) => match rules::find(name) {
            Some(rule) => vec![rule],
            None => bail!("unknown rule \"{name}\"; run `rollgate rules` for the list"),
        },
        None => rules::all().to_vec(),
    };
    match (args.format, args.rule.is_some()) {
        (RulesFormat::Json, _) => {
            let json: Vec<_> = selected.iter().map(|r| rule_json(r)).collect();
            serde_json::to_writer_pretty(&mut out, &json)?;
            writeln!(out)?;
        }
        (RulesFormat::Human, true) => explain(&mut out, selected[0])?,
        (RulesFormat::Human, false) => {
            writeln!(
                out,
                "{:<48} {:<9} {:<7} {:<7} {:<8} TITLE",
                "RULE", "CATEGORY", "SAMPLE", "BASIC", "ADVANCED"
            )?;
            for rule in selected {
                let [sample, basic, advanced] = level_names(&rule.levels);
                writeln!(
                    out,
                    "{:<48} {:<9} {:<7} {:<7} {:<8} {}",
                    rule.name,
                    rule.category.as_str(),
                    sample,
                    basic,
                    advanced,
                    rule.title
                )?;
            }
            writeln!(
                out,
                "\nBuilt-in rules also run under the `none` template. `rollgate rules RULE` explains one."
            )?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn explain(out: &mut dyn Write, rule: &RuleDef) -> std::io::Result<()> {
    let [sample, basic, advanced] = level_names(&rule.levels);
    writeln!(
        out,
        "{}  ({} {})",
        rule.name,
        rule.category.as_str(),
        rule.code
    )?;
    writeln!(out, "{}", rule.title)?;
    if let Some(legacy) = rule.legacy_name {
        writeln!(out, "Also accepted as: {legacy}")?;
    }
    writeln!(
        out,
        "Templates: sample {sample}, basic {basic}, advanced {advanced}"
    )?;
    let payload = payload_lines(&rule.payload);
    if !payload.is_empty() {
        writeln!(out, "Payload (defaults):")?;
        for line in payload {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out, "\n{}", rule.description)
}

fn level_names(levels: &TemplateLevels) -> [&'static str; 3] {
    let name = |level: Option<rollgate_review::Level>| level.map_or("-", |l| l.as_str());
    [
        name(levels.sample),
        name(levels.basic),
        name(levels.advanced),
    ]
}

fn payload_lines(payload: &PayloadDefaults) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(format) = payload.format {
        lines.push(format!("format = {format:?}"));
    }
    if let Some(max_length) = payload.max_length {
        lines.push(format!("max_length = {max_length}"));
    }
    if let Some(number) = payload.number {
        lines.push(format!("number = {number}"));
    }
    if let Some(list) = payload.list {
        lines.push(format!("list = {list:?}"));
    }
    if let Some(required) = payload.required {
        lines.push(format!("required = {required}"));
    }
    if let Some(value) = payload.value {
        lines.push(format!("value = {value:?}"));
    }
    lines
}

fn rule_json(rule: &RuleDef) -> serde_json::Value {
    let [sample, basic, advanced] = level_names(&rule.levels);
    serde_json::json!({
        "name": rule.name,
        "legacy_name": rule.legacy_name,
        "code": rule.code,
        "category": rule.category.as_str(),
        "title": rule.title,
        "description": rule.description,
        "levels": {"sample": sample, "basic": basic, "advanced": advanced},
        "payload": payload_lines(&rule.payload),
    })
}
