//! `STATEMENT_INSERT_DISALLOW_ORDER_BY_RAND`: no `ORDER BY random()` in
//! INSERT ... SELECT.

use rollgate_sql::ast::{ExprKind, InsertSource, Span, StatementKind};

use super::query::for_each_arm;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_INSERT_DISALLOW_ORDER_BY_RAND",
    legacy_name: Some("statement.insert.disallow-order-by-rand"),
    code: 1108,
    category: Category::Statement,
    title: "Prohibit using \"ORDER BY rand()\" in \"INSERT\" statement",
    description: "Flags INSERT ... SELECT ... ORDER BY random(). Sorting by a random value reads \
        and sorts every candidate row, and makes the inserted data differ on every run, so \
        environments drift apart. Pick the rows deterministically (ORDER BY a key, a WHERE \
        condition), or use TABLESAMPLE if a sample is really wanted.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::Insert(insert) = &cx.statement.kind else {
        return;
    };
    let InsertSource::Query(query) = &insert.source else {
        return;
    };
    let mut found: Vec<Span> = Vec::new();
    for_each_arm(query, &mut |select| {
        for key in &select.order_by {
            if matches!(&key.kind, ExprKind::Call { name, .. } if is_random(name)) {
                found.push(key.span);
            }
        }
        // The ORDER BY of a UNION is not lowered: look for it in the text
        // after the last arm.
        if let Some(last) = select.arms.last() {
            let tail = Span::new(last.span.end, select.span.end);
            if let Some(span) = random_in_text(cx, tail) {
                found.push(span);
            }
        }
    });
    for span in found {
        out.push(Finding::new(
            span,
            format!(
                "INSERT into table \"{}\" selects its rows ORDER BY {}, which sorts every candidate row and inserts different data on every run; order by a key or filter the rows deterministically",
                insert.table.display(),
                cx.text(span).trim()
            ),
        ));
    }
}

fn is_random(name: &str) -> bool {
    matches!(name, "random" | "rand")
}

/// The span of a `random()` call in the text of an `ORDER BY` clause.
fn random_in_text(cx: &RuleCx<'_>, span: Span) -> Option<Span> {
    let text = cx.text(span).to_ascii_lowercase();
    let order = text.find("order")?;
    let rest = text.get(order..)?;
    let call = rest.find("random")?;
    let start = order + call;
    let after = text.get(start + "random".len()..)?;
    let open = after.len() - after.trim_start().len();
    let after = after.trim_start().strip_prefix('(')?;
    let close = after.len() - after.trim_start().len();
    after.trim_start().strip_prefix(')')?;
    let end = start + "random".len() + open + 1 + close + 1;
    Some(Span::new(
        span.start + start as u32,
        span.start + end as u32,
    ))
}
