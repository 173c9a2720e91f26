//! `TABLE_RENAME`: renaming a table breaks running clients.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};
use rollgate_sql::catalog::key;

use super::common::table_is_new;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TABLE_RENAME",
    legacy_name: None,
    code: 3007,
    category: Category::Safety,
    title: "Prohibit renaming tables",
    description: "Flags ALTER TABLE ... RENAME TO (squawk: renaming-table). During a deploy the old \
        and the new application versions run side by side, and the old one still uses the old name, \
        so its queries fail. Keep the old name working with a view (CREATE VIEW old_name AS SELECT * \
        FROM new_name) until every client has moved; a rename followed in the same file by such a \
        view is not flagged, nor is a table created earlier in the file. Off in every template \
        because SCHEMA_BACKWARD_COMPATIBILITY already reports renames; enable it for squawk's \
        behaviour.",
    levels: levels(OFF, OFF, OFF),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    if table_is_new(cx, &alter.name) {
        return;
    }
    let old_key = key(&alter.name);
    let view_keeps_old_name = cx.following().iter().any(|statement| {
        matches!(&statement.kind, StatementKind::CreateView(view) if key(&view.name) == old_key)
    });
    if view_keeps_old_name {
        return;
    }
    for action in &alter.actions {
        let AlterTableActionKind::RenameTable { to } = &action.kind else {
            continue;
        };
        out.push(Finding::new(
            action.span,
            format!(
                "Renaming table \"{old}\" to \"{new}\" breaks application code that still uses the old name, \
                 such as the previous version still running during the deploy; keep the old name working \
                 with `CREATE VIEW {old} AS SELECT * FROM {new}` until every client has moved",
                old = alter.name.display(),
                new = match &alter.name.schema {
                    Some(schema) => format!("{schema}.{}", to.name),
                    None => to.name.clone(),
                }
            ),
        ));
    }
}
