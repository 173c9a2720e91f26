//! `NAMING_INDEX_FK`: foreign keys follow a naming format.

use super::format::{Named, Value, check_name};
use super::keys::{KeyKind, named_keys};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "NAMING_INDEX_FK",
    legacy_name: Some("naming.index.fk"),
    code: 305,
    category: Category::Naming,
    title: "Enforce foreign key naming format",
    description: "Flags a named FOREIGN KEY constraint (CREATE TABLE, ALTER TABLE ... ADD \
        CONSTRAINT, RENAME CONSTRAINT) whose name does not match `format` or is longer than \
        `max_length`. In `format`, `{{referencing_table}}`, `{{referencing_column}}`, \
        `{{referenced_table}}` and `{{referenced_column}}` stand for the actual names (columns \
        joined with `_`; implicit referenced columns are the referenced table's primary key). \
        An unnamed foreign key is not flagged: PostgreSQL names it `<table>_<columns>_fkey`. \
        Rename the constraint to the expected name the advice shows.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        format: Some(
            "^fk_{{referencing_table}}_{{referencing_column}}_{{referenced_table}}_{{referenced_column}}$",
        ),
        max_length: Some(64),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    for key in named_keys(cx, KeyKind::Foreign) {
        let object = Named {
            kind: "Foreign key",
            name: &key.name.name,
            owner: format!("on table \"{}\"", key.table.display()),
            span: key.name.span,
            generated: false,
        };
        let values = [
            ("referencing_table", Value::Name(key.table.name.clone())),
            ("referencing_column", key.columns),
            ("referenced_table", key.referenced_table),
            ("referenced_column", key.referenced_columns),
        ];
        check_name(cx.options, &object, &values, out);
    }
}
