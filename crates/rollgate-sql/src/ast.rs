//! Rollgate's own statement model.
//!
//! Rules see only these types, never a parser's tree. A dialect front end
//! (`crate::postgres` today, MySQL and SQLite later) lowers its tree into
//! them. Every node that a rule may point at carries a [`Span`] into the
//! original file text, so advice lands on the offending column definition,
//! clause or constraint rather than on the statement's first line.
//!
//! Identifiers are normalized the way the dialect folds them: unquoted names
//! are lower-cased, quoted names keep their case and lose their quotes.
//! Anything the lowering does not model is kept as `Other` with its text, so
//! no statement is silently dropped.

/// A half-open byte range `start..end` into the file text the statement
/// came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    pub fn len(self) -> u32 {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The smallest span covering both.
    pub fn cover(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn slice(self, text: &str) -> &str {
        text.get(self.start as usize..self.end as usize)
            .unwrap_or("")
    }
}

/// A possibly schema-qualified object name, e.g. `public.users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    pub schema: Option<String>,
    pub name: String,
    /// True when the last part was written in double quotes.
    pub quoted: bool,
    pub span: Span,
}

impl ObjectName {
    /// `schema.name` or `name`.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A plain (unqualified) identifier with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub quoted: bool,
    pub span: Span,
}

/// One statement of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub kind: StatementKind,
    /// The whole statement, from its first token to its terminating
    /// semicolon (inclusive) when there is one.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    CreateTable(CreateTable),
    AlterTable(AlterTable),
    DropTable(DropObjects),
    CreateIndex(CreateIndex),
    DropIndex(DropIndex),
    Truncate(Truncate),
    Insert(Insert),
    Update(Update),
    Delete(Delete),
    Select(Select),
    /// `SET [SESSION|LOCAL] name = value` and `SET ROLE`.
    Set(SetVariable),
    Reset {
        name: String,
    },
    Begin,
    Commit,
    Rollback,
    CreateSchema {
        name: Ident,
        if_not_exists: bool,
    },
    DropSchema(DropObjects),
    CreateDatabase {
        name: Ident,
        options: Vec<(String, String)>,
    },
    DropDatabase {
        name: Ident,
        if_exists: bool,
    },
    /// `CREATE TYPE name AS ENUM (...)`.
    CreateEnum {
        name: ObjectName,
        values: Vec<String>,
    },
    /// `ALTER TYPE name ADD VALUE 'v' [BEFORE|AFTER 'w']`.
    AlterEnumAddValue(AlterEnumAddValue),
    CreateView(CreateView),
    DropView(DropObjects),
    CreateSequence {
        name: ObjectName,
        if_not_exists: bool,
    },
    DropSequence(DropObjects),
    CreateFunction {
        name: ObjectName,
        or_replace: bool,
    },
    CreateTrigger {
        name: Ident,
        table: Option<ObjectName>,
    },
    CreateDomain {
        name: ObjectName,
        has_check: bool,
        check_span: Option<Span>,
    },
    AlterDomainAddConstraint {
        name: ObjectName,
        constraint_span: Span,
    },
    /// `COMMENT ON <object> IS '...'`.
    Comment(CommentOn),
    Reindex {
        concurrently: bool,
        target_span: Span,
    },
    Vacuum {
        full: bool,
    },
    Cluster,
    RefreshMaterializedView {
        name: ObjectName,
        concurrently: bool,
    },
    /// `ALTER ... OWNER TO`, `GRANT`, `REVOKE` and other statements the
    /// rules only need to recognise by keyword.
    Other(OtherStatement),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OtherStatement {
    /// Leading keywords, upper-cased and space-joined, e.g. `"ALTER SEQUENCE"`.
    pub keyword: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateTable {
    pub name: ObjectName,
    pub if_not_exists: bool,
    pub temporary: bool,
    pub unlogged: bool,
    pub columns: Vec<ColumnDef>,
    pub constraints: Vec<TableConstraint>,
    /// `PARTITION BY ...` clause.
    pub partition_by: Option<Span>,
    /// `PARTITION OF parent`.
    pub partition_of: Option<ObjectName>,
    /// `CREATE TABLE ... AS SELECT` or `LIKE`: columns are not known.
    pub as_query: bool,
    /// `INHERITS (...)`.
    pub inherits: Vec<ObjectName>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: Ident,
    /// Absent only in a malformed statement.
    pub data_type: Option<DataType>,
    pub constraints: Vec<ColumnConstraint>,
    pub collation: Option<String>,
    /// The whole column definition.
    pub span: Span,
}

impl ColumnDef {
    pub fn is_not_null(&self) -> bool {
        self.constraints
            .iter()
            .any(|c| matches!(c.kind, ColumnConstraintKind::NotNull))
    }

    pub fn is_primary_key(&self) -> bool {
        self.constraints
            .iter()
            .any(|c| matches!(c.kind, ColumnConstraintKind::PrimaryKey))
    }

    pub fn default(&self) -> Option<&Expr> {
        self.constraints.iter().find_map(|c| match &c.kind {
            ColumnConstraintKind::Default(expr) => Some(expr),
            _ => None,
        })
    }

    /// `GENERATED ... AS IDENTITY`, `GENERATED ALWAYS AS (...) STORED`.
    pub fn generated(&self) -> Option<&Generated> {
        self.constraints.iter().find_map(|c| match &c.kind {
            ColumnConstraintKind::Generated(g) => Some(g),
            _ => None,
        })
    }
}

/// A column's data type.
#[derive(Debug, Clone, PartialEq)]
pub struct DataType {
    /// The canonical lower-case base name without modifiers: `int4` is kept
    /// as written (`int4`), but keyword spellings are normalized:
    /// `character varying` → `varchar`, `character` → `char`,
    /// `timestamp without time zone` → `timestamp`,
    /// `timestamp with time zone` → `timestamptz`, `double precision` →
    /// `double precision`. A schema-qualified type keeps only its last part
    /// here; `schema` has the rest.
    pub name: String,
    pub schema: Option<String>,
    /// Numeric modifiers, e.g. `[20]` for `varchar(20)`, `[10, 2]` for
    /// `numeric(10,2)`.
    pub modifiers: Vec<i64>,
    /// `int[]`, `int array`.
    pub array: bool,
    /// The type as written.
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnConstraint {
    /// `CONSTRAINT name` before it.
    pub name: Option<Ident>,
    pub kind: ColumnConstraintKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnConstraintKind {
    NotNull,
    Null,
    Default(Expr),
    PrimaryKey,
    Unique,
    Check { expr: Expr, no_inherit: bool },
    References(ForeignKeyTarget),
    Generated(Generated),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Generated {
    /// `GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY`.
    Identity,
    /// `GENERATED ALWAYS AS (expr) STORED`.
    Stored(Expr),
}

/// `REFERENCES table (cols) ON DELETE ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKeyTarget {
    pub table: ObjectName,
    pub columns: Vec<Ident>,
    pub on_delete: Option<ReferentialAction>,
    pub on_update: Option<ReferentialAction>,
    /// Span of the `ON DELETE ...` clause.
    pub on_delete_span: Option<Span>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferentialAction {
    Cascade,
    Restrict,
    NoAction,
    SetNull,
    SetDefault,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableConstraint {
    pub name: Option<Ident>,
    pub kind: TableConstraintKind,
    /// `NOT VALID` was written.
    pub not_valid: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TableConstraintKind {
    PrimaryKey {
        columns: Vec<Ident>,
        using_index: Option<Ident>,
    },
    Unique {
        columns: Vec<Ident>,
        using_index: Option<Ident>,
    },
    ForeignKey {
        columns: Vec<Ident>,
        target: ForeignKeyTarget,
    },
    Check {
        expr: Expr,
    },
    Exclude,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlterTable {
    pub name: ObjectName,
    pub if_exists: bool,
    /// `ALTER TABLE ONLY t`.
    pub only: bool,
    pub actions: Vec<AlterTableAction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlterTableAction {
    pub kind: AlterTableActionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlterTableActionKind {
    AddColumn {
        column: ColumnDef,
        if_not_exists: bool,
    },
    DropColumn {
        name: Ident,
        if_exists: bool,
        cascade: bool,
    },
    AlterColumnType {
        column: Ident,
        data_type: Option<DataType>,
        using: Option<Expr>,
    },
    SetNotNull {
        column: Ident,
    },
    DropNotNull {
        column: Ident,
    },
    SetDefault {
        column: Ident,
        expr: Expr,
    },
    DropDefault {
        column: Ident,
    },
    AddConstraint(TableConstraint),
    ValidateConstraint {
        name: Ident,
    },
    DropConstraint {
        name: Ident,
        if_exists: bool,
        cascade: bool,
    },
    RenameColumn {
        from: Ident,
        to: Ident,
    },
    RenameConstraint {
        from: Ident,
        to: Ident,
    },
    RenameTable {
        to: Ident,
    },
    SetSchema {
        schema: Ident,
    },
    AttachPartition {
        partition: ObjectName,
    },
    DetachPartition {
        partition: ObjectName,
        concurrently: bool,
    },
    OwnerTo,
    /// Anything else (`SET (fillfactor=...)`, `ENABLE TRIGGER`, ...); the
    /// keyword text upper-cased, e.g. `"ENABLE TRIGGER"`.
    Other {
        keyword: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DropObjects {
    pub names: Vec<ObjectName>,
    pub if_exists: bool,
    pub cascade: bool,
    /// Span of the `CASCADE` keyword.
    pub cascade_span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateIndex {
    /// Absent for `CREATE INDEX ON t (...)`.
    pub name: Option<ObjectName>,
    pub table: ObjectName,
    pub unique: bool,
    pub concurrently: bool,
    pub if_not_exists: bool,
    pub columns: Vec<IndexElement>,
    pub method: Option<String>,
    pub where_clause: Option<Expr>,
}

/// One element of an index's column list: a column or an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexElement {
    /// Set when the element is a plain column reference.
    pub column: Option<String>,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DropIndex {
    pub names: Vec<ObjectName>,
    pub concurrently: bool,
    pub if_exists: bool,
    pub cascade: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Truncate {
    pub tables: Vec<ObjectName>,
    pub cascade: bool,
    pub cascade_span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    pub table: ObjectName,
    /// The explicit column list; empty when none was written.
    pub columns: Vec<Ident>,
    pub source: InsertSource,
    /// `ON CONFLICT ...` was written.
    pub on_conflict: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InsertSource {
    /// `VALUES (...), (...)`: number of rows and the clause's span.
    Values {
        rows: usize,
        span: Span,
    },
    Query(Box<Select>),
    DefaultValues,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub table: ObjectName,
    pub assignments: Vec<Assignment>,
    pub where_clause: Option<Expr>,
    /// `UPDATE ... FROM other`.
    pub has_from: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub column: Ident,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub table: ObjectName,
    pub where_clause: Option<Expr>,
    pub has_using: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// Spans of `*` and `t.*` targets.
    pub star_targets: Vec<Span>,
    pub from: Vec<ObjectName>,
    pub has_from: bool,
    pub where_clause: Option<Expr>,
    pub order_by: Vec<Expr>,
    /// Set-operation arms (`UNION`, ...) and sub-selects are flattened into
    /// their own `Select`s here, so that rules can look at each arm.
    pub arms: Vec<Select>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SetVariable {
    /// Lower-cased parameter name, e.g. `lock_timeout`, or `role` for
    /// `SET ROLE`.
    pub name: String,
    /// The value as written, without quotes.
    pub value: String,
    /// `SET LOCAL`.
    pub local: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlterEnumAddValue {
    pub name: ObjectName,
    pub value: String,
    /// `BEFORE`/`AFTER` was given.
    pub positioned: bool,
    pub if_not_exists: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateView {
    pub name: ObjectName,
    pub or_replace: bool,
    pub materialized: bool,
    /// Explicit column names `CREATE VIEW v (a, b)`.
    pub columns: Vec<Ident>,
    pub query: Option<Select>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommentOn {
    pub target: CommentTarget,
    /// `None` for `IS NULL`.
    pub text: Option<String>,
    pub text_span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CommentTarget {
    Table(ObjectName),
    /// `COMMENT ON COLUMN [schema.]table.column`.
    Column {
        table: ObjectName,
        column: Ident,
    },
    Other {
        keyword: String,
    },
}

/// An expression, lowered just far enough for rules: calls, column
/// references, literals and operators. Anything else keeps its children.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A column reference, possibly qualified: `a`, `t.a`. The last part.
    Column(String),
    /// A string literal, unquoted.
    String(String),
    Number(String),
    Null,
    Bool(bool),
    /// A function call; `name` is lower-cased and unqualified.
    Call {
        name: String,
        args: Vec<Expr>,
    },
    /// A binary operator; `op` upper-cased for keywords (`AND`, `LIKE`,
    /// `ILIKE`, `IN`), symbolic otherwise (`=`, `+`, `||`).
    Binary {
        op: String,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Unary {
        op: String,
        operand: Box<Expr>,
    },
    /// `expr::type` or `CAST(expr AS type)`.
    Cast {
        expr: Box<Expr>,
        type_name: String,
    },
    /// A sub-query.
    Subquery(Box<Select>),
    /// Anything else, with the expressions found inside it.
    Other(Vec<Expr>),
}

impl Expr {
    /// Visits this expression and every expression inside it, parents first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            ExprKind::Binary { left, right, .. } => {
                left.walk(f);
                right.walk(f);
            }
            ExprKind::Unary { operand, .. } => operand.walk(f),
            ExprKind::Cast { expr, .. } => expr.walk(f),
            ExprKind::Other(children) => children.iter().for_each(|c| c.walk(f)),
            ExprKind::Column(_)
            | ExprKind::String(_)
            | ExprKind::Number(_)
            | ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Subquery(_) => {}
        }
    }
}
