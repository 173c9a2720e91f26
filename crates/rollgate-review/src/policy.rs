//! Review policies: a template plus per-rule overrides, read from the
//! `[review]` table of `rollgate.toml`.
//!
//! ```toml
//! [review]
//! engine = "postgres"
//! template = "basic"          # sample | basic | advanced | none
//!
//! [review.rules.NAMING_TABLE]
//! level = "ERROR"             # ERROR | WARNING | DISABLED
//! format = "^[a-z]+(_[a-z]+)*$"
//! max_length = 63
//! ```

use std::collections::BTreeMap;
use std::fmt;

use rollgate_sql::Dialect;
use serde::Deserialize;

use crate::advice::Level;
use crate::rule::{Options, RuleDef};
use crate::rules;

/// The shipped rule sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    /// Bytebase's Sample template: DROP protection and no nullable columns.
    Sample,
    /// Bytebase's Basic (dev) template plus our lock-safety rules as
    /// warnings. The default.
    Basic,
    /// Bytebase's Advanced (prod) template plus our lock-safety rules, the
    /// dangerous ones as errors.
    Advanced,
    /// Only the rules the configuration lists, plus the built-in size and
    /// walk-through checks.
    None,
}

impl Template {
    pub const ALL: [Template; 4] = [
        Template::Sample,
        Template::Basic,
        Template::Advanced,
        Template::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Template::Sample => "sample",
            Template::Basic => "basic",
            Template::Advanced => "advanced",
            Template::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Template> {
        Template::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }

    /// The level this template gives a rule, if it enables it.
    pub fn level_of(self, rule: &RuleDef) -> Option<Level> {
        match self {
            Template::Sample => rule.levels.sample,
            Template::Basic => rule.levels.basic,
            Template::Advanced => rule.levels.advanced,
            Template::None => None,
        }
        .or_else(|| {
            if rules::is_builtin(rule) {
                Some(Level::Warning)
            } else {
                None
            }
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An enabled rule with its level and payload.
#[derive(Debug, Clone)]
pub struct EnabledRule {
    pub rule: &'static RuleDef,
    pub level: Level,
    pub options: Options,
}

/// The resolved set of rules a review runs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub dialect: Dialect,
    pub template: Template,
    /// In registry order.
    pub rules: Vec<EnabledRule>,
}

impl Policy {
    /// The template's rules at their template levels.
    pub fn from_template(template: Template) -> Policy {
        Policy::resolve(&ReviewConfig {
            template: Some(template),
            ..ReviewConfig::default()
        })
        .expect("a bare template always resolves")
    }

    pub fn enabled(&self, name: &str) -> Option<&EnabledRule> {
        self.rules.iter().find(|r| r.rule.name == name)
    }

    /// Applies a configuration: the template, then each override.
    pub fn resolve(config: &ReviewConfig) -> Result<Policy, ConfigError> {
        let template = config.template.unwrap_or(Template::Basic);
        let dialect = match config.engine.as_deref() {
            None | Some("postgres") | Some("postgresql") => Dialect::Postgres,
            Some(other) => {
                return Err(ConfigError::new(
                    "review.engine",
                    format!(
                        "unknown engine \"{other}\"; valid engines: postgres (MySQL and SQLite review are planned)"
                    ),
                ));
            }
        };
        let mut overrides: BTreeMap<&'static str, (&String, &RuleOverride)> = BTreeMap::new();
        for (name, rule_override) in &config.rules {
            let Some(rule) = rules::find(name) else {
                return Err(ConfigError::new(
                    format!("review.rules.{name}"),
                    format!(
                        "unknown rule \"{name}\"{}; valid rules: {}",
                        suggest(name),
                        rules::names().join(", ")
                    ),
                ));
            };
            if let Some((first, _)) = overrides.insert(rule.name, (name, rule_override)) {
                return Err(ConfigError::new(
                    format!("review.rules.{name}"),
                    format!(
                        "rule {} is configured twice (as \"{first}\" and \"{name}\"); keep one",
                        rule.name
                    ),
                ));
            }
        }
        let mut enabled = Vec::new();
        for rule in rules::all() {
            let mut level = template.level_of(rule);
            let mut options = Options::from_defaults(&rule.payload);
            if let Some((written, rule_override)) = overrides.get(rule.name) {
                let setting = format!("review.rules.{written}");
                rule_override.apply(rule, &setting, &mut options)?;
                level = match rule_override.level.as_deref() {
                    Some(text) => parse_level(text).ok_or_else(|| {
                        ConfigError::new(
                            format!("{setting}.level"),
                            format!(
                                "unknown level \"{text}\"; valid levels: ERROR, WARNING, DISABLED"
                            ),
                        )
                    })?,
                    // Configuring a rule's payload enables it.
                    None => level
                        .or(rule.levels.advanced)
                        .or(rule.levels.basic)
                        .or(Some(Level::Warning)),
                };
            }
            if let Some(level) = level {
                enabled.push(EnabledRule {
                    rule,
                    level,
                    options,
                });
            }
        }
        Ok(Policy {
            dialect,
            template,
            rules: enabled,
        })
    }
}

/// `Some(None)` is `DISABLED`.
fn parse_level(text: &str) -> Option<Option<Level>> {
    match text.to_ascii_uppercase().as_str() {
        "ERROR" => Some(Some(Level::Error)),
        "WARNING" | "WARN" => Some(Some(Level::Warning)),
        "DISABLED" | "OFF" => Some(None),
        _ => None,
    }
}

fn suggest(name: &str) -> String {
    let upper = name.to_ascii_uppercase().replace(['.', '-'], "_");
    rules::all()
        .iter()
        .map(|r| (edit_distance(&upper, r.name), r.name))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, best)| format!(" (did you mean {best}?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// The `[review]` table of `rollgate.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    pub engine: Option<String>,
    pub template: Option<Template>,
    #[serde(default)]
    pub rules: BTreeMap<String, RuleOverride>,
}

/// `[review.rules.NAME]`: a level and payload keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    pub level: Option<String>,
    pub format: Option<String>,
    pub max_length: Option<i64>,
    pub number: Option<i64>,
    pub list: Option<Vec<String>>,
    pub required: Option<bool>,
    pub value: Option<String>,
}

impl RuleOverride {
    fn apply(
        &self,
        rule: &RuleDef,
        setting: &str,
        options: &mut Options,
    ) -> Result<(), ConfigError> {
        let valid = rule.payload.keys();
        let reject = |key: &str| {
            let takes = if valid.is_empty() {
                "takes no payload keys".to_string()
            } else {
                format!("takes: {}", valid.join(", "))
            };
            Err(ConfigError::new(
                format!("{setting}.{key}"),
                format!(
                    "rule {} has no payload key \"{key}\"; it {takes}",
                    rule.name
                ),
            ))
        };
        if let Some(format) = &self.format {
            if rule.payload.format.is_none() {
                return reject("format");
            }
            // Template formats (`{{table}}`) are checked when expanded.
            if !format.contains("{{")
                && let Err(error) = regex::Regex::new(format)
            {
                return Err(ConfigError::new(
                    format!("{setting}.format"),
                    format!("invalid regular expression: {error}"),
                ));
            }
            options.format.clone_from(format);
        }
        if let Some(max_length) = self.max_length {
            if rule.payload.max_length.is_none() {
                return reject("max_length");
            }
            options.max_length = max_length;
        }
        if let Some(number) = self.number {
            if rule.payload.number.is_none() {
                return reject("number");
            }
            options.number = number;
        }
        if let Some(list) = &self.list {
            if rule.payload.list.is_none() {
                return reject("list");
            }
            options.list.clone_from(list);
        }
        if let Some(required) = self.required {
            if rule.payload.required.is_none() {
                return reject("required");
            }
            options.required = required;
        }
        if let Some(value) = &self.value {
            if rule.payload.value.is_none() {
                return reject("value");
            }
            options.value.clone_from(value);
        }
        Ok(())
    }
}

/// A configuration problem, naming the setting at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// Dotted path of the setting, e.g. `review.rules.NAMING_TABLE.format`.
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// The whole `rollgate.toml`. Tables other than `[review]` belong to other
/// commands and are ignored here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub review: ReviewConfig,
}

/// Parses `rollgate.toml` text.
pub fn parse_config(text: &str) -> Result<ReviewConfig, ConfigError> {
    let file: ConfigFile = toml::from_str(text).map_err(|error| {
        let setting = error
            .span()
            .map(|span| line_of(text, span.start))
            .unwrap_or_else(|| "rollgate.toml".into());
        ConfigError::new(setting, error.message().to_string())
    })?;
    Ok(file.review)
}

fn line_of(text: &str, offset: usize) -> String {
    let line = text[..offset.min(text.len())].matches('\n').count() + 1;
    format!("line {line}")
}
