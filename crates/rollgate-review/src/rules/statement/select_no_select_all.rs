//! `STATEMENT_SELECT_NO_SELECT_ALL`: no `SELECT *`.

use super::query::{for_each_arm, statement_queries, table_list};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_SELECT_NO_SELECT_ALL",
    legacy_name: Some("statement.select.no-select-all"),
    code: 203,
    category: Category::Statement,
    title: "Prohibit using \"SELECT *\"",
    description: "Flags a `*` or `t.*` target in a SELECT, in the query of INSERT ... SELECT and \
        of CREATE VIEW, and in every arm of a UNION/INTERSECT/EXCEPT. `*` reads columns nobody \
        needs, and its meaning changes silently when a column is added or dropped: an INSERT ... \
        SELECT * breaks or shifts values, a view freezes the column list it saw. Name the columns \
        instead. `count(*)` and `EXISTS (SELECT * ...)` are fine and not flagged.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    for query in statement_queries(&cx.statement.kind, true) {
        for_each_arm(query, &mut |select| {
            let tables = table_list(select);
            for &star in &select.star_targets {
                let target = cx.text(star).trim();
                // `t.*` names its table (or alias); `*` reads every source.
                let source = match target.rsplit_once('.') {
                    Some((qualifier, _)) => format!(" of \"{}\"", qualifier.trim()),
                    None if tables.is_empty() => String::new(),
                    None => format!(" of {tables}"),
                };
                out.push(Finding::new(
                    star,
                    format!(
                        "\"SELECT {target}\" selects every column{source}; list the columns the query needs, so that adding or dropping a column cannot change its result"
                    ),
                ));
            }
        });
    }
}
