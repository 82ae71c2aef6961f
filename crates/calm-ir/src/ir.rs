//! The checked intermediate representation: relations resolved to ids, variables numbered per rule,
//! every column typed, every rule safe, and the strata computed.

use calm_syntax::Span;
use calm_syntax::ast::{AggFunc, BinOp, CmpOp, Functor};
use std::collections::{BTreeMap, HashMap};

/// Index of a relation in [`Program::relations`].
pub type RelId = usize;
/// Index of a variable in [`Rule::vars`].
pub type VarId = usize;
/// Index of a rule in [`Program::rules`].
pub type RuleId = usize;

/// A column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// 64-bit signed integer.
    Number,
    /// Interned string.
    Symbol,
    /// 64-bit unsigned integer (`unsigned`).
    Unsigned,
    /// 64-bit IEEE 754 float (`float`), stored canonically (see [`crate::number`]).
    Float,
    /// A record type or an algebraic data type: an index in [`Program::records`]. Its values
    /// are interned tuples.
    Record(u32),
}

impl Type {
    /// `number`, `symbol` or `record`.
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Number => "number",
            Type::Symbol => "symbol",
            Type::Unsigned => "unsigned",
            Type::Float => "float",
            Type::Record(_) => "record",
        }
    }

    /// Whether arithmetic and ordering apply: `number`, `unsigned` or `float`.
    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Number | Type::Unsigned | Type::Float)
    }
}

/// A record type (`.type P = [a: number, b: P]`) or an algebraic data type
/// (`.type T = A {x: number} | B {}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordType {
    /// Its name.
    pub name: String,
    /// The `.type` declaration.
    pub span: Span,
    /// A record type has one branch, unnamed (`name` is empty); an ADT one per constructor,
    /// in declaration order (a branch's index is its tag).
    pub branches: Vec<RecordBranch>,
    /// Whether it is an algebraic data type (values `$A(...)`) rather than a record type
    /// (values `[...]` and `nil`).
    pub adt: bool,
}

/// One branch of a [`RecordType`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBranch {
    /// The constructor's name (empty for a record type).
    pub name: String,
    /// The fields' names and types.
    pub fields: Vec<(String, Type)>,
}

/// What builds a record value: a record literal `[...]`, whose type comes from where it is
/// used, or an ADT constructor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ctor {
    /// `[e, ...]`.
    Plain,
    /// `$Name(e, ...)`: branch `branch` of the ADT `Program::records[ty]`.
    Branch {
        /// The ADT.
        ty: u32,
        /// The branch (its tag).
        branch: u32,
    },
}

impl Ctor {
    /// The tag stored with the record: 0 for a record literal, the branch for a constructor.
    pub fn tag(self) -> i64 {
        match self {
            Ctor::Plain => 0,
            Ctor::Branch { branch, .. } => i64::from(branch),
        }
    }
}

/// A constant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Const {
    /// A number.
    Number(i64),
    /// A symbol.
    Symbol(String),
    /// An unsigned.
    Unsigned(u64),
    /// A float, by the bits of its canonical value ([`crate::number::float_bits`]).
    Float(i64),
    /// `nil`, the empty record (of any record type).
    Nil,
    /// A record of constants.
    Record(Ctor, Vec<Const>),
}

impl Const {
    /// The constant's type, when it has one of its own (`nil` and record literals take theirs
    /// from where they are used).
    pub fn ty(&self) -> Option<Type> {
        match self {
            Const::Number(_) => Some(Type::Number),
            Const::Symbol(_) => Some(Type::Symbol),
            Const::Unsigned(_) => Some(Type::Unsigned),
            Const::Float(_) => Some(Type::Float),
            Const::Nil | Const::Record(Ctor::Plain, _) => None,
            Const::Record(Ctor::Branch { ty, .. }, _) => Some(Type::Record(*ty)),
        }
    }
}

/// The built-in relations every program can read. Their names start with `$`, which no Souffle
/// relation name can, so they never collide with a user's relations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `$self(name: symbol)`: this node's own name (one fact).
    SelfName,
    /// `$member(name: symbol)`: every member of the cluster, this node included.
    Member,
    /// An auxiliary relation made by the compiler (the body of a head-form aggregate).
    Auxiliary,
}

impl Builtin {
    /// The built-in relation called `name`, if any.
    pub fn by_name(name: &str) -> Option<Builtin> {
        match name {
            "$self" => Some(Builtin::SelfName),
            "$member" => Some(Builtin::Member),
            _ => None,
        }
    }
}

/// The lattice of a relation's last column(s) (`.decl r(k: symbol, v: max)`): the relation holds
/// one value per key (the other columns), the join of every value given or derived for it.
///
/// Every lattice but [`Lattice::Lww`] is one number column. An `lww` value is three columns, the
/// timestamp (declared `lww`, a number), the writer and the value (numbers or symbols):
/// `.decl reg(key: symbol, t: lww, writer: symbol, value: symbol)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lattice {
    /// Numbers ordered as usual; the join is the larger.
    Max,
    /// Numbers ordered the other way; the join is the smaller.
    Min,
    /// `0` (false) below `1` (true); the join is the or. Any other number is taken as `1`.
    Bool,
    /// A grow-only count: non-negative numbers ordered as usual, the join the larger; a value
    /// below 0 is taken as 0, so a sum of counter values only grows as they merge.
    Counter,
    /// Last writer wins: a (timestamp, writer, value) triple ordered lexicographically
    /// (numbers by value, symbols by their text); the join is the larger triple.
    Lww,
}

impl Lattice {
    /// The lattice called `name` as a column type, if calm implements it.
    pub fn by_name(name: &str) -> Option<Lattice> {
        match name {
            "max" => Some(Lattice::Max),
            "min" => Some(Lattice::Min),
            "bool" => Some(Lattice::Bool),
            "counter" => Some(Lattice::Counter),
            "lww" => Some(Lattice::Lww),
            _ => None,
        }
    }

    /// Its name as a column type.
    pub fn as_str(self) -> &'static str {
        match self {
            Lattice::Max => "max",
            Lattice::Min => "min",
            Lattice::Bool => "bool",
            Lattice::Counter => "counter",
            Lattice::Lww => "lww",
        }
    }

    /// How many columns, at the end of the relation, one value takes (3 for `lww`, else 1).
    pub fn width(self) -> usize {
        match self {
            Lattice::Lww => 3,
            _ => 1,
        }
    }

    /// The value a number column of this lattice holds for the number `n` (`bool`: 0 or 1;
    /// `counter`: at least 0; otherwise `n`). `lww` columns are held as given.
    pub fn normalize(self, n: i64) -> i64 {
        match self {
            Lattice::Bool => i64::from(n != 0),
            Lattice::Counter => n.max(0),
            _ => n,
        }
    }

    /// Whether the value `a` is strictly above `b` in the order of a one-column lattice (a
    /// merge of `a` into `b` changes `b`); both normalized. For `lww`, this compares
    /// timestamps only.
    pub fn above(self, a: i64, b: i64) -> bool {
        match self {
            Lattice::Min => a < b,
            _ => a > b,
        }
    }

    /// The join of two normalized values of a one-column lattice.
    pub fn join(self, a: i64, b: i64) -> i64 {
        if self.above(a, b) { a } else { b }
    }

    /// Which way a threshold on the value (or an `lww` timestamp) is monotone: `true` when the
    /// value grows as numbers do (`v >= k` stays true), `false` for `min` (`v <= k`).
    pub fn grows_up(self) -> bool {
        self != Lattice::Min
    }
}

/// Names of lattices that calm reserves but does not implement (an error, not a column type):
/// the set-valued ones, written key per element instead (see docs/language.md).
pub const UNIMPLEMENTED_LATTICES: &[&str] = &["set", "map"];

/// Parameters of an `.input`/`.output` directive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IoSpec {
    /// `key=value` parameters, keys lower-cased (`io`, `filename`, `delimiter`, ...).
    pub params: BTreeMap<String, String>,
    /// The directive's span.
    pub span: Span,
}

/// A relation.
#[derive(Clone, Debug)]
pub struct Relation {
    /// Its name.
    pub name: String,
    /// Number of columns.
    pub arity: usize,
    /// Column types.
    pub types: Vec<Type>,
    /// Column names from the `.decl`, if declared.
    pub columns: Vec<String>,
    /// The `.decl`, or the first use if undeclared.
    pub span: Span,
    /// Whether a `.decl` exists.
    pub declared: bool,
    /// The parameters of each `.input` directive (or `input` qualifier), in source order; each
    /// is read. Identical ones are kept once.
    pub inputs: Vec<IoSpec>,
    /// The parameters of each `.output` directive (or `output` qualifier), in source order; each
    /// is written. Identical ones are kept once.
    pub outputs: Vec<IoSpec>,
    /// `.printsize` given.
    pub printsize: bool,
    /// `.persist` given: facts carry over to the next tick.
    pub persist: bool,
    /// Built-in or compiler-made.
    pub builtin: Option<Builtin>,
    /// Declared `eqrel`: an equivalence relation. The compiler adds its symmetric and
    /// transitive closure rules (marked [`Rule::compiler_made`]), which make it reflexive on
    /// the values it relates too.
    pub eqrel: bool,
    /// No rule derives it and it is not built-in: it holds only given facts, at every tick.
    pub edb: bool,
    /// The lattice of the last column(s), if any ([`Lattice::width`] columns: the last, or for
    /// `lww` the last three): the relation then holds one row per key (the other columns), with
    /// the join of the values given or derived for that key.
    pub lattice: Option<Lattice>,
}

/// When a rule's head holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Time {
    /// In the same tick (deductive).
    Now,
    /// At this node's next tick (`@next`).
    Next,
    /// At the node named by head column `location`, some later tick (`@async`).
    Async {
        /// The head column holding the destination.
        location: usize,
    },
}

/// An argument of an atom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// A variable.
    Var(VarId),
    /// A constant.
    Const(Const),
    /// `_` (only in negated atoms; positive atoms get fresh variables).
    Wildcard,
}

/// An arithmetic expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A variable.
    Var(VarId),
    /// A constant.
    Const(Const),
    /// Unary minus.
    Neg(Box<Expr>),
    /// Binary arithmetic.
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// A built-in functor call (`cat`, `strlen`, ...).
    Call(Functor, Vec<Expr>),
    /// A record built from its fields (`[a, b]`, `$A(x)`).
    Record(Ctor, Vec<Expr>),
    /// Field `index` of a record: made by the compiler when a record pattern is destructured,
    /// always after a [`Expr::Tag`] check of the same record. Reading a field of `nil` or of
    /// another branch gives an arbitrary value, never an error.
    Field {
        /// The record.
        rec: Box<Expr>,
        /// What the pattern was (its type's branch, or a record literal).
        ctor: Ctor,
        /// The field.
        index: usize,
        /// How many fields the pattern has (checked against the type).
        of: usize,
    },
    /// A record's tag as a number: -1 for `nil`, 0 for a record, the branch of an ADT value.
    Tag(Box<Expr>),
    /// `as(e, T)`: the value of `e`, which has the type `T` stands for (a cast changes no
    /// value: the type checker requires both to be one type).
    As(Type, Box<Expr>),
}

impl Expr {
    /// Calls `f` on every variable in the expression.
    pub fn for_each_var(&self, f: &mut impl FnMut(VarId)) {
        match self {
            Expr::Var(v) => f(*v),
            Expr::Const(_) => {}
            Expr::Neg(e) => e.for_each_var(f),
            Expr::Bin(_, a, b) => {
                a.for_each_var(f);
                b.for_each_var(f);
            }
            Expr::Call(_, args) | Expr::Record(_, args) => {
                args.iter().for_each(|a| a.for_each_var(f))
            }
            Expr::Field { rec: e, .. } | Expr::Tag(e) | Expr::As(_, e) => e.for_each_var(f),
        }
    }

    /// Whether the expression can fail at run time for other reasons than overflow
    /// (division, remainder, a power, a functor such as `to_number`).
    pub fn can_fail(&self) -> bool {
        match self {
            Expr::Var(_) | Expr::Const(_) => false,
            Expr::Neg(e) => e.can_fail(),
            Expr::Bin(op, a, b) => {
                matches!(op, BinOp::Div | BinOp::Rem | BinOp::Pow) || a.can_fail() || b.can_fail()
            }
            Expr::Call(f, args) => crate::functor::can_fail(*f) || args.iter().any(Expr::can_fail),
            Expr::Record(_, args) => args.iter().any(Expr::can_fail),
            Expr::Field { rec: e, .. } | Expr::Tag(e) | Expr::As(_, e) => e.can_fail(),
        }
    }
}

/// An atom in a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Atom {
    /// The relation.
    pub rel: RelId,
    /// One term per column.
    pub args: Vec<Term>,
    /// Where it was written.
    pub span: Span,
}

impl Atom {
    /// The variables among the arguments, in column order.
    pub fn vars(&self) -> impl Iterator<Item = VarId> + '_ {
        self.args.iter().filter_map(|t| match t {
            Term::Var(v) => Some(*v),
            _ => None,
        })
    }
}

/// One element of a rule body, in evaluation-ready form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyItem {
    /// A positive atom; its arguments are distinct variables (constants, repeats and expressions
    /// were turned into filters).
    Atom(Atom),
    /// A negated atom; all its variables are bound elsewhere.
    Negated(Atom),
    /// A filter `lhs op rhs` over bound variables.
    Compare {
        /// The operator.
        op: CmpOp,
        /// Left side.
        lhs: Expr,
        /// Right side.
        rhs: Expr,
        /// Where it was written.
        span: Span,
    },
    /// `var = expr`, binding `var`.
    Assign {
        /// The variable bound.
        var: VarId,
        /// Its value.
        expr: Expr,
        /// Where it was written.
        span: Span,
    },
    /// `var = func target : { body }`, binding `var`.
    Aggregate(Aggregate),
    /// `var = range(from, to[, step])`: binds `var` to each value of the range in turn
    /// (Souffle's generator; the values are [`crate::functor::range`]'s). When `var` is bound
    /// already, a check that it is one of them ([`crate::functor::in_range`]).
    Range {
        /// The variable bound.
        var: VarId,
        /// `from`, `to` and the optional step, numbers.
        args: Vec<Expr>,
        /// Where it was written.
        span: Span,
    },
}

/// A body-form aggregate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    /// The variable bound to the result.
    pub var: VarId,
    /// count, sum, min or max.
    pub func: AggFunc,
    /// The aggregated expression (none for count).
    pub target: Option<Expr>,
    /// The aggregate's body: atoms (positive atoms have distinct variable arguments),
    /// negations and filters. Variables bound outside are fixed; the aggregate ranges over the
    /// distinct assignments of the others.
    pub body: Vec<BodyItem>,
    /// Variables of the body that are bound outside the aggregate (the grouping).
    pub outer: Vec<VarId>,
    /// Where it was written.
    pub span: Span,
}

/// A variable of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    /// Its name (`_N` for compiler-made ones).
    pub name: String,
    /// Its first occurrence.
    pub span: Span,
}

/// A rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The head relation.
    pub head: RelId,
    /// One expression per head column.
    pub head_args: Vec<Expr>,
    /// When the head holds.
    pub time: Time,
    /// The body, in source order (the engine plans the order itself).
    pub body: Vec<BodyItem>,
    /// The rule's variables.
    pub vars: Vec<Var>,
    /// The whole rule.
    pub span: Span,
    /// The head atom.
    pub head_span: Span,
    /// Made by the compiler rather than written (the closure rules of an `eqrel` relation, whose
    /// spans are the declaration's).
    pub compiler_made: bool,
    /// Positions in `body` of the positive atoms over a lattice relation whose value the rule
    /// reads other than monotonically (anything but a threshold, or a monotone expression in
    /// the value column of a head with the same lattice). Such a read is treated like a
    /// negation: the relation must be complete before the rule reads it.
    pub raw_reads: Vec<usize>,
    /// The type of each variable (indexed like `vars`), filled in by the type checker.
    pub var_types: Vec<Type>,
}

impl Rule {
    /// Relations read by the body, with whether each read is non-monotonic (negated, inside
    /// an aggregate, or a raw read of a lattice value: see [`Rule::raw_reads`]).
    pub fn body_relations(&self) -> Vec<(RelId, bool, Span)> {
        let mut out = Vec::new();
        fn walk(items: &[BodyItem], under_agg: bool, out: &mut Vec<(RelId, bool, Span)>) {
            for item in items {
                match item {
                    BodyItem::Atom(a) => out.push((a.rel, under_agg, a.span)),
                    BodyItem::Negated(a) => out.push((a.rel, true, a.span)),
                    BodyItem::Aggregate(agg) => walk(&agg.body, true, out),
                    BodyItem::Compare { .. } | BodyItem::Assign { .. } | BodyItem::Range { .. } => {
                    }
                }
            }
        }
        for (i, item) in self.body.iter().enumerate() {
            let at = out.len();
            walk(std::slice::from_ref(item), false, &mut out);
            if self.raw_reads.contains(&i) {
                for e in &mut out[at..] {
                    e.1 = true;
                }
            }
        }
        out
    }
}

/// A ground fact written in the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The relation.
    pub rel: RelId,
    /// One constant per column.
    pub values: Vec<Const>,
    /// The arguments as written (before folding), for columns whose type decides how they
    /// compute (`7 / 2` in a `float` column is 3.5).
    pub exprs: Vec<Expr>,
    /// Where it was written.
    pub span: Span,
}

/// A set of relations computed together to a fixpoint: a strongly connected component of the
/// same-tick dependency graph.
#[derive(Clone, Debug, Default)]
pub struct Stratum {
    /// Relations computed here.
    pub relations: Vec<RelId>,
    /// Same-tick rules whose head is in `relations`.
    pub rules: Vec<RuleId>,
    /// Whether a rule reads a relation of this stratum (needs iteration).
    pub recursive: bool,
}

/// A checked program.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// All relations, built-ins included.
    pub relations: Vec<Relation>,
    /// All rules.
    pub rules: Vec<Rule>,
    /// Facts written in the program.
    pub facts: Vec<Fact>,
    /// Strata in evaluation order (every relation is in exactly one).
    pub strata: Vec<Stratum>,
    /// `@next` and `@async` rules, evaluated once per tick after all strata.
    pub temporal_rules: Vec<RuleId>,
    /// Relation ids by name.
    pub by_name: HashMap<String, RelId>,
    /// Record types and algebraic data types, indexed by [`Type::Record`].
    pub records: Vec<RecordType>,
}

impl Program {
    /// The relation called `name`.
    pub fn relation(&self, name: &str) -> Option<RelId> {
        self.by_name.get(name).copied()
    }

    /// The ADT constructor called `name` (without the `$`): its type and branch.
    pub fn constructor(&self, name: &str) -> Option<Ctor> {
        self.records.iter().enumerate().find_map(|(ty, r)| {
            let branch = r.branches.iter().position(|b| r.adt && b.name == name)?;
            Some(Ctor::Branch {
                ty: ty as u32,
                branch: branch as u32,
            })
        })
    }

    /// The fields of the record built by `ctor` when its type is `ty` (`None`: `ctor` is not
    /// a constructor of `ty`, or `ty` is not a record type).
    pub fn fields(&self, ty: Type, ctor: Ctor) -> Option<&[(String, Type)]> {
        let Type::Record(id) = ty else { return None };
        let r = self.records.get(id as usize)?;
        match ctor {
            Ctor::Plain if !r.adt => r.branches.first().map(|b| b.fields.as_slice()),
            Ctor::Branch { ty, branch } if ty == id => {
                r.branches.get(branch as usize).map(|b| b.fields.as_slice())
            }
            _ => None,
        }
    }

    /// The id of a built-in relation, if the program has it.
    pub fn builtin(&self, b: Builtin) -> Option<RelId> {
        self.relations.iter().position(|r| r.builtin == Some(b))
    }
}
