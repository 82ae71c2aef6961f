//! The abstract syntax tree of a calm program.
//!
//! Every node carries a [`Span`]: byte offsets into the source text it was parsed from. The tree is
//! what was written, nothing more: names are not resolved, arities are not checked. That is the job
//! of `calm-ir`.

use crate::Span;

/// A whole program: the items of one source file, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// Declarations, directives, facts and rules, in source order.
    pub items: Vec<Item>,
}

/// One top-level item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `.decl name(col: type, ...)`
    Decl(Decl),
    /// `.input`, `.output`, `.printsize`, `.persist`
    Directive(Directive),
    /// A fact (a rule with an empty body) or a rule.
    Rule(Rule),
    /// `.type Name <: base`, `.type Name = Other`, `.type Name = A | B`
    Type(TypeDecl),
}

/// A user-defined type: Souffle's `.type` (also the old `.number_type`/`.symbol_type`).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeDecl {
    /// The declared type.
    pub name: Ident,
    /// What it is.
    pub def: TypeDef,
    /// The whole declaration.
    pub span: Span,
}

/// The definition of a user-defined type. Names are resolved by `calm-ir`.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeDef {
    /// `.type Name <: base`: a subtype of `base` (`.number_type Name` is `<: number`).
    Subtype(Ident),
    /// `.type Name = A` (an alias, one member) or `.type Name = A | B | ...` (a union).
    Union(Vec<Ident>),
    /// `.type Name = [field: T, ...]`: a record type (its fields may name `Name` itself).
    Record(Vec<Param>),
    /// `.type Name = A {field: T, ...} | B {}`: an algebraic data type, one branch per
    /// constructor (`$A(...)`).
    Adt(Vec<Branch>),
}

/// One branch of an algebraic data type: `A {x: number, y: T}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    /// The constructor's name (written `$A(...)` in expressions).
    pub name: Ident,
    /// Its fields, in order (possibly none).
    pub fields: Vec<Param>,
    /// From the name to the closing brace.
    pub span: Span,
}

/// An identifier with its span. Relation names may contain `.` (Souffle's qualified names) and,
/// for built-in relations, start with `$`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The identifier as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// `.decl edge(src: number, dst: number)`
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    /// The declared relation.
    pub name: Ident,
    /// The columns, in order.
    pub params: Vec<Param>,
    /// Souffle qualifiers after the columns that change what the relation is or does:
    /// `eqrel`, `input`, `output`, `printsize`, in source order. (Qualifiers that only choose a
    /// data structure, such as `brie`, are dropped with a warning.)
    pub qualifiers: Vec<Ident>,
    /// The whole declaration.
    pub span: Span,
}

/// One column of a declaration: `src: number`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Column name.
    pub name: Ident,
    /// Type name as written (`number`, `symbol`, ...); checked by `calm-ir`.
    pub ty: Ident,
}

/// Which directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DirectiveKind {
    /// `.input rel` — read facts from a file.
    Input,
    /// `.output rel` — write the relation after evaluation.
    Output,
    /// `.printsize rel` — print `rel<TAB>count`.
    PrintSize,
    /// `.persist rel` — the relation's facts persist across ticks.
    Persist,
}

/// `.input edge(IO=file, filename="edge.facts", delimiter="\t")`, or `.output a, b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Directive {
    /// Which directive.
    pub kind: DirectiveKind,
    /// The span of the keyword (`.input`).
    pub kind_span: Span,
    /// The relations it names, each with its own parameters (usually one).
    pub targets: Vec<DirectiveTarget>,
    /// The whole directive.
    pub span: Span,
}

/// One relation named by a directive, with optional `key=value` parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectiveTarget {
    /// The relation.
    pub name: Ident,
    /// `(IO=file, filename="x", ...)`, empty if none were given.
    pub params: Vec<IoParam>,
}

/// `key=value` in a directive's parameter list. Values are strings (`"..."`, escapes processed),
/// identifiers (`file`, `stdout`) or numbers, all kept as text.
#[derive(Clone, Debug, PartialEq)]
pub struct IoParam {
    /// The key, e.g. `IO`, `filename`, `delimiter`.
    pub key: Ident,
    /// The value as text (a string literal's escapes are already processed).
    pub value: String,
    /// The span of the value.
    pub value_span: Span,
}

/// A fact or a rule: `head :- body.`, `head@next :- body.`, `head.`
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The head atom. Head arguments may be any expression, including a head aggregate
    /// (`sum(v)`) and a location argument (`@n`).
    pub head: Atom,
    /// `@next` or `@async` after the head, if any.
    pub time: Option<TimeSuffix>,
    /// The body literals; empty for a fact.
    pub body: Vec<Literal>,
    /// Souffle's subsumption `head <= other :- body.`: `other`, an atom of the same relation.
    /// Such a clause derives nothing: it removes each row matching `head` for which another
    /// row matching `other` exists with the body true.
    pub dominated_by: Option<Atom>,
    /// The whole clause, from the head to the final `.`.
    pub span: Span,
}

/// A Dedalus time suffix on a rule head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSuffix {
    /// `@next`: the head holds at the next tick of this node.
    Next(Span),
    /// `@async`: the head is sent to the node named by the location argument.
    Async(Span),
}

impl TimeSuffix {
    /// The span of the suffix.
    pub fn span(&self) -> Span {
        match self {
            TimeSuffix::Next(s) | TimeSuffix::Async(s) => *s,
        }
    }
}

/// `name(arg, ...)` — in a head or a body.
#[derive(Clone, Debug, PartialEq)]
pub struct Atom {
    /// The relation.
    pub name: Ident,
    /// The arguments (possibly none: `ok()`).
    pub args: Vec<Arg>,
    /// From the name to the closing parenthesis.
    pub span: Span,
}

/// One argument of an atom.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// The argument.
    pub expr: Expr,
    /// `true` when written with a leading `@` (`p(@n, x)`): the location column of an `@async` head.
    pub location: bool,
    /// The argument including the `@`, if any.
    pub span: Span,
}

/// A body literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A positive atom `p(x, y)`.
    Atom(Atom),
    /// A negated atom, `!p(x)` or `not p(x)`; `span` covers the `!`/`not` too.
    Negated {
        /// The atom under the negation.
        atom: Atom,
        /// From `!`/`not` to the end of the atom.
        span: Span,
    },
    /// A comparison `lhs op rhs`, possibly parenthesised. `x = e` with `x` unbound binds `x`;
    /// `n = count : { ... }` binds `n` to an aggregate. The built-in string predicates
    /// `match(lhs, rhs)` and `contains(lhs, rhs)` (and their negations) are comparisons too.
    Compare {
        /// The operator.
        op: CmpOp,
        /// Left operand.
        lhs: Expr,
        /// Right operand.
        rhs: Expr,
        /// The whole comparison.
        span: Span,
    },
}

impl Literal {
    /// The span of the whole literal.
    pub fn span(&self) -> Span {
        match self {
            Literal::Atom(a) => a.span,
            Literal::Negated { span, .. } | Literal::Compare { span, .. } => *span,
        }
    }
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `match(pattern, s)`: the regular expression `pattern` matches the whole symbol `s`
    /// (`lhs` is the pattern, `rhs` the symbol).
    Match,
    /// `!match(pattern, s)`.
    NotMatch,
    /// `contains(sub, s)`: `sub` is a substring of `s` (`lhs` is `sub`, `rhs` is `s`).
    Contains,
    /// `!contains(sub, s)`.
    NotContains,
}

impl CmpOp {
    /// The operator as written; for the string predicates, their name (with `!` when negated).
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Match => "match",
            CmpOp::NotMatch => "!match",
            CmpOp::Contains => "contains",
            CmpOp::NotContains => "!contains",
        }
    }

    /// Whether this is a built-in string predicate written as a call (`match(p, s)`,
    /// `contains(sub, s)`, negated or not) rather than an infix operator.
    pub fn is_predicate(self) -> bool {
        matches!(
            self,
            CmpOp::Match | CmpOp::NotMatch | CmpOp::Contains | CmpOp::NotContains
        )
    }

    /// The string predicate called `name` (`match`, `contains`), negated or not.
    pub fn predicate(name: &str, negated: bool) -> Option<CmpOp> {
        Some(match (name, negated) {
            ("match", false) => CmpOp::Match,
            ("match", true) => CmpOp::NotMatch,
            ("contains", false) => CmpOp::Contains,
            ("contains", true) => CmpOp::NotContains,
            _ => return None,
        })
    }
}

/// Binary arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (division by zero is a runtime error)
    Div,
    /// `%` (by zero is a runtime error)
    Rem,
    /// `^`: exponentiation (right-associative, binds tighter than unary minus)
    Pow,
    /// `band`: bitwise and
    Band,
    /// `bor`: bitwise or
    Bor,
    /// `bxor`: bitwise exclusive or
    Bxor,
    /// `bshl`: shift left
    Bshl,
    /// `bshr`: arithmetic shift right
    Bshr,
    /// `bshru`: logical shift right
    Bshru,
    /// `land`: logical and (1 when both are non-zero, else 0)
    Land,
    /// `lor`: logical or
    Lor,
    /// `lxor`: logical exclusive or
    Lxor,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Pow => "^",
            BinOp::Band => "band",
            BinOp::Bor => "bor",
            BinOp::Bxor => "bxor",
            BinOp::Bshl => "bshl",
            BinOp::Bshr => "bshr",
            BinOp::Bshru => "bshru",
            BinOp::Land => "land",
            BinOp::Lor => "lor",
            BinOp::Lxor => "lxor",
        }
    }

    /// The operator written as a word (`band`, ...), with its precedence.
    pub fn word(name: &str) -> Option<BinOp> {
        Some(match name {
            "band" => BinOp::Band,
            "bor" => BinOp::Bor,
            "bxor" => BinOp::Bxor,
            "bshl" => BinOp::Bshl,
            "bshr" => BinOp::Bshr,
            "bshru" => BinOp::Bshru,
            "land" => BinOp::Land,
            "lor" => BinOp::Lor,
            "lxor" => BinOp::Lxor,
            _ => return None,
        })
    }
}

/// Souffle's built-in functors that calm implements, called as `name(arg, ...)` (`bnot x` and
/// `lnot x` are written as prefix operators).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Functor {
    /// `cat(s, t, ...)`: the symbols concatenated.
    Cat,
    /// `strlen(s)`: the length of `s` in bytes.
    Strlen,
    /// `substr(s, i, n)`: the `n` bytes of `s` from byte `i` (fewer at the end of `s`).
    Substr,
    /// `to_number(s)`: the number written in `s`.
    ToNumber,
    /// `to_string(n)`: the number written as a symbol.
    ToString,
    /// `min(a, b, ...)`: the smallest number.
    Min,
    /// `max(a, b, ...)`: the largest number.
    Max,
    /// `bnot x`: bitwise not.
    Bnot,
    /// `lnot x`: logical not (1 when `x` is 0, else 0).
    Lnot,
    /// `range(a, b[, step])`: a generator, only in `x = range(...)`: binds `x` to each number
    /// from `a` towards `b` (excluded) by `step` (default 1, or -1 when `b < a`).
    Range,
    /// `to_float(x)`: a number, an unsigned or a symbol as a float.
    ToFloat,
    /// `to_unsigned(x)`: a number, a float or a symbol as an unsigned.
    ToUnsigned,
}

impl Functor {
    /// The functor called `name`, if calm implements it.
    pub fn by_name(name: &str) -> Option<Functor> {
        Some(match name {
            "cat" => Functor::Cat,
            "strlen" => Functor::Strlen,
            "substr" => Functor::Substr,
            "to_number" => Functor::ToNumber,
            "to_string" => Functor::ToString,
            "min" => Functor::Min,
            "max" => Functor::Max,
            "bnot" => Functor::Bnot,
            "lnot" => Functor::Lnot,
            "range" => Functor::Range,
            "to_float" => Functor::ToFloat,
            "to_unsigned" => Functor::ToUnsigned,
            _ => return None,
        })
    }

    /// The functor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Functor::Cat => "cat",
            Functor::Strlen => "strlen",
            Functor::Substr => "substr",
            Functor::ToNumber => "to_number",
            Functor::ToString => "to_string",
            Functor::Min => "min",
            Functor::Max => "max",
            Functor::Bnot => "bnot",
            Functor::Lnot => "lnot",
            Functor::Range => "range",
            Functor::ToFloat => "to_float",
            Functor::ToUnsigned => "to_unsigned",
        }
    }

    /// How many arguments it takes: at least `.0`, at most `.1` (`None`: any number).
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            Functor::Cat => (1, None),
            Functor::Min | Functor::Max => (2, None),
            Functor::Substr => (3, Some(3)),
            Functor::Range => (2, Some(3)),
            _ => (1, Some(1)),
        }
    }
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggFunc {
    /// `count`
    Count,
    /// `sum`
    Sum,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `mean`: the average, a float.
    Mean,
}

impl AggFunc {
    /// The function's name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Mean => "mean",
        }
    }
}

/// An expression: a term or arithmetic over terms.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A variable (any identifier that is not a keyword; any case).
    Var(Ident),
    /// `_`
    Wildcard(Span),
    /// An integer literal (64-bit signed). `-5` parses as `Neg(5)`.
    Number(i64, Span),
    /// A float literal (`1.5`, `2.0e3`).
    Float(f64, Span),
    /// An unsigned literal (`1u`, `0xffu`).
    Unsigned(u64, Span),
    /// `as(e, T)`: `e` read as a value of type `T` (Souffle's cast).
    As(Box<Expr>, Ident, Span),
    /// A string literal, escapes processed.
    String(String, Span),
    /// Unary minus.
    Neg(Box<Expr>, Span),
    /// `lhs op rhs`, with the usual precedence (`* / %` over `+ -`), left-associative.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
        /// The whole expression.
        span: Span,
    },
    /// A call of a built-in functor: `cat(a, b)`, `strlen(s)`, `bnot x`, ...
    Call {
        /// Which functor.
        func: Functor,
        /// Its arguments.
        args: Vec<Expr>,
        /// The whole call.
        span: Span,
    },
    /// An aggregate, in Souffle's body form `count : { p(x, _) }` / `sum y : { p(x, y) }`
    /// (also `count : p(x)` without braces), or the head form `sum(v)` in a head argument.
    Aggregate(Box<Aggregate>),
    /// A record literal `[e, ...]`: builds a record in a head or an expression, destructures
    /// one in a body atom or an equality (`_` allowed among its fields there).
    Record(Vec<Expr>, Span),
    /// `nil`: the empty value of every record type.
    Nil(Span),
    /// `$Name(e, ...)`: a constructor of an algebraic data type (`$Name` without arguments
    /// is `$Name()`). Boxed to keep `Expr` small (the parser's recursion depth depends on it).
    Branch(Box<Construct>),
}

/// `$Name(e, ...)`: a value of an algebraic data type.
#[derive(Clone, Debug, PartialEq)]
pub struct Construct {
    /// The constructor's name, without the `$`.
    pub name: Ident,
    /// Its arguments.
    pub args: Vec<Expr>,
    /// The whole expression.
    pub span: Span,
}

impl Expr {
    /// The span of the expression.
    pub fn span(&self) -> Span {
        match self {
            Expr::Var(i) => i.span,
            Expr::Wildcard(s)
            | Expr::Number(_, s)
            | Expr::Float(_, s)
            | Expr::Unsigned(_, s)
            | Expr::As(_, _, s)
            | Expr::String(_, s)
            | Expr::Neg(_, s)
            | Expr::Record(_, s)
            | Expr::Nil(s) => *s,
            Expr::Binary { span, .. } | Expr::Call { span, .. } => *span,
            Expr::Branch(c) => c.span,
            Expr::Aggregate(a) => a.span,
        }
    }
}

/// An aggregate expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// Which function.
    pub func: AggFunc,
    /// The span of the function's name.
    pub func_span: Span,
    /// The aggregated expression: `y` in `sum y : {...}` or `v` in head form `sum(v)`; `None` for
    /// `count : {...}` and for head-form `count()`.
    pub target: Option<Expr>,
    /// The body form's literals; empty for the head form.
    pub body: Vec<Literal>,
    /// `true` for the head form `sum(v)`.
    pub head_form: bool,
    /// The whole aggregate.
    pub span: Span,
}
