//! The per-tuple part of a rule: bind registers from a scanned or joined tuple, run filters,
//! assignments, negation checks and aggregates, and write the output row into buffers.

use crate::index::{Index, Word};
use crate::value::Interner;
use calm_ir::Type;
use calm_ir::functor::{self, FVal};
use calm_syntax::Span;
use calm_syntax::ast::{AggFunc, BinOp, CmpOp, Functor};

/// A compiled expression over registers.
#[derive(Clone, Debug)]
pub(crate) enum CExpr {
    Reg(usize),
    /// A constant: its word, and its number when it is one.
    Const(Word, i64),
    Neg(Box<CExpr>),
    Bin(BinOp, Box<CExpr>, Box<CExpr>),
    /// Unary minus of a `float`.
    FNeg(Box<CExpr>),
    /// Arithmetic over `unsigned` or `float` values (`Bin` is over numbers).
    TBin(Type, BinOp, Box<CExpr>, Box<CExpr>),
    /// A built-in functor call, with the types its arguments are taken in (boxed slices: the
    /// enum stays as small as before the types were added).
    Call(Functor, Box<[CExpr]>, Box<[Type]>),
    /// A record: its tag and fields (interned when built).
    Record(i64, Vec<CExpr>),
    /// Field `.1` of a record (an arbitrary word for `nil` or a record without it: a tag check
    /// always guards it).
    Field(Box<CExpr>, usize),
    /// A record's tag: -1 for `nil`.
    Tag(Box<CExpr>),
}

impl CExpr {
    /// A register or a constant: its word can be used without decoding.
    pub(crate) fn is_word(&self) -> bool {
        matches!(self, CExpr::Reg(_) | CExpr::Const(..))
    }

    /// Whether the expression is a functor call that gives a symbol, or a record or a field
    /// (compared as words).
    fn is_symbol_call(&self) -> bool {
        matches!(self, CExpr::Call(f, _, tys) if functor::result_type(*f, tys) == Type::Symbol)
            || matches!(self, CExpr::Record(..) | CExpr::Field(..))
    }

    /// The word of field `i` of the record `rec`, without interning anything.
    fn field(rec: &CExpr, i: usize, regs: &[Word], it: &Interner) -> Result<Word, &'static str> {
        let w = match rec {
            CExpr::Reg(r) => regs[*r],
            CExpr::Const(w, _) => *w,
            CExpr::Field(inner, j) => Self::field(inner, *j, regs, it)?,
            _ => return Err("a field of a computed record"),
        };
        Ok(it
            .record(w)
            .and_then(|ws| ws.get(i + 1))
            .copied()
            .unwrap_or(0))
    }

    /// The value as a word (symbols and numbers).
    #[inline]
    pub(crate) fn word(&self, regs: &[Word], it: &mut Interner) -> Result<Word, &'static str> {
        match self {
            CExpr::Reg(r) => Ok(regs[*r]),
            CExpr::Const(w, _) => Ok(*w),
            CExpr::Call(f, args, tys) => call_word(*f, args, tys, regs, it),
            CExpr::Field(rec, i) => Self::field(rec, *i, regs, it),
            CExpr::Record(tag, fields) => {
                let mut words = Vec::with_capacity(fields.len() + 1);
                words.push(*tag as Word);
                for f in fields {
                    words.push(f.word(regs, it)?);
                }
                it.intern_record(&words)
            }
            other => Ok(it.encode(other.num(regs, it)?)),
        }
    }

    /// The word of the value, except that a record no value holds is `None` (not interned).
    fn word_or_lookup(
        &self,
        regs: &[Word],
        it: &mut Interner,
    ) -> Result<Option<Word>, &'static str> {
        let CExpr::Record(tag, fields) = self else {
            return self.word(regs, it).map(Some);
        };
        let mut words = Vec::with_capacity(fields.len() + 1);
        words.push(*tag as Word);
        for f in fields {
            match f.word_or_lookup(regs, it)? {
                Some(w) => words.push(w),
                None => return Ok(None),
            }
        }
        Ok(it.lookup_record(&words))
    }

    /// The value of an expression of type `ty`, for a functor's argument.
    fn val<'a>(&self, regs: &[Word], it: &'a Interner, ty: Type) -> Result<FVal<'a>, &'static str> {
        match (self, ty) {
            (CExpr::Reg(r), Type::Symbol) => Ok(FVal::Str(it.resolve(regs[*r]).into())),
            (CExpr::Const(w, _), Type::Symbol) => Ok(FVal::Str(it.resolve(*w).into())),
            (CExpr::Field(rec, i), Type::Symbol) => Ok(FVal::Str(
                it.resolve(Self::field(rec, *i, regs, it)?).into(),
            )),
            (CExpr::Call(f, args, tys), _) => call_val(*f, args, tys, regs, it),
            _ => Ok(FVal::from_bits(ty, self.num(regs, it)?)),
        }
    }

    /// The value as a number.
    #[inline]
    pub(crate) fn num(&self, regs: &[Word], it: &Interner) -> Result<i64, &'static str> {
        match self {
            CExpr::Reg(r) => Ok(it.decode(regs[*r])),
            CExpr::Const(_, n) => Ok(*n),
            CExpr::Neg(a) => a.num(regs, it)?.checked_neg().ok_or("arithmetic overflow"),
            CExpr::Bin(op, a, b) => {
                let (x, y) = (a.num(regs, it)?, b.num(regs, it)?);
                functor::arith(*op, x, y)
            }
            CExpr::FNeg(a) => functor::negate(Type::Float, a.num(regs, it)?),
            CExpr::TBin(ty, op, a, b) => {
                let (x, y) = (a.num(regs, it)?, b.num(regs, it)?);
                functor::arith_typed(*ty, *op, x, y)
            }
            CExpr::Call(f, args, tys) => call_val(*f, args, tys, regs, it)?
                .bits()
                .ok_or("a functor gave a symbol where a number is needed"),
            CExpr::Field(rec, i) => Ok(it.decode(Self::field(rec, *i, regs, it)?)),
            CExpr::Tag(rec) => {
                let w = match &**rec {
                    CExpr::Reg(r) => regs[*r],
                    CExpr::Const(w, _) => *w,
                    CExpr::Field(inner, j) => Self::field(inner, *j, regs, it)?,
                    _ => return Err("the tag of a computed record"),
                };
                Ok(it
                    .record(w)
                    .and_then(|ws| ws.first())
                    .map_or(-1, |&t| i64::from(t)))
            }
            CExpr::Record(..) => Err("a record where a number is needed"),
        }
    }
}

/// A functor call's value.
#[inline(never)]
fn call_val<'a>(
    f: Functor,
    args: &[CExpr],
    tys: &[Type],
    regs: &[Word],
    it: &'a Interner,
) -> Result<FVal<'a>, &'static str> {
    let mut vals = Vec::with_capacity(args.len());
    for (a, ty) in args.iter().zip(tys) {
        vals.push(a.val(regs, it, *ty)?);
    }
    functor::call(f, &vals)
}

/// A functor call's value as a word (a symbol it builds is interned).
#[inline(never)]
fn call_word(
    f: Functor,
    args: &[CExpr],
    tys: &[Type],
    regs: &[Word],
    it: &mut Interner,
) -> Result<Word, &'static str> {
    let v = call_val(f, args, tys, regs, it)?;
    Ok(match v {
        FVal::Str(s) => {
            let s = s.into_owned();
            it.intern(&s)
        }
        other => it.encode(other.bits().unwrap_or(0)),
    })
}

/// Compiles expression `e` of a rule whose variables have types `vars` (constants are
/// interned): operators over `unsigned` and `float` values become their typed forms.
pub(crate) fn compile(
    prog: &calm_ir::Program,
    vars: &[Type],
    e: &calm_ir::Expr,
    it: &mut Interner,
) -> CExpr {
    use calm_ir::{Const, Expr};
    let go = |x: &Expr, it: &mut Interner| Box::new(compile(prog, vars, x, it));
    match e {
        Expr::Var(v) => CExpr::Reg(*v),
        Expr::Const(c) => {
            let n = match c {
                Const::Number(n) | Const::Float(n) => *n,
                Const::Unsigned(u) => *u as i64,
                _ => 0,
            };
            CExpr::Const(it.const_word(c), n)
        }
        Expr::Neg(a) => match calm_ir::numeric::expr_type(prog, vars, a) {
            Type::Float => CExpr::FNeg(go(a, it)),
            _ => CExpr::Neg(go(a, it)),
        },
        Expr::Bin(op, a, b) => match calm_ir::numeric::expr_type(prog, vars, e) {
            ty @ (Type::Float | Type::Unsigned) => CExpr::TBin(ty, *op, go(a, it), go(b, it)),
            // Souffle's `+` of two symbols concatenates them.
            Type::Symbol => CExpr::Call(
                Functor::Cat,
                Box::new([compile(prog, vars, a, it), compile(prog, vars, b, it)]),
                Box::new([Type::Symbol, Type::Symbol]),
            ),
            _ => CExpr::Bin(*op, go(a, it), go(b, it)),
        },
        Expr::Call(f, args) => CExpr::Call(
            *f,
            args.iter().map(|a| compile(prog, vars, a, it)).collect(),
            calm_ir::numeric::call_arg_types(prog, vars, *f, args).into(),
        ),
        Expr::Record(c, args) => CExpr::Record(
            c.tag(),
            args.iter().map(|a| compile(prog, vars, a, it)).collect(),
        ),
        Expr::Field { rec, index, .. } => CExpr::Field(go(rec, it), *index),
        Expr::Tag(a) => CExpr::Tag(go(a, it)),
        Expr::As(_, a) => compile(prog, vars, a, it),
    }
}

/// The type a comparison `lhs op rhs` orders its sides in.
pub(crate) fn compare_type(
    prog: &calm_ir::Program,
    vars: &[Type],
    lhs: &calm_ir::Expr,
    rhs: &calm_ir::Expr,
) -> Type {
    match calm_ir::numeric::expr_type(prog, vars, lhs) {
        Type::Number => calm_ir::numeric::expr_type(prog, vars, rhs),
        t => t,
    }
}

/// Whether `lhs op rhs` holds over the registers (orderings compare numbers; equality compares
/// words when both sides are registers or constants; `match` and `contains` compare the symbols'
/// text). Both evaluators filter with this function.
#[inline]
pub(crate) fn compare(
    op: CmpOp,
    ty: Type,
    lhs: &CExpr,
    rhs: &CExpr,
    regs: &[Word],
    it: &mut Interner,
) -> Result<bool, &'static str> {
    if matches!(op, CmpOp::Eq | CmpOp::Ne)
        && ((lhs.is_word() && rhs.is_word()) || lhs.is_symbol_call() || rhs.is_symbol_call())
    {
        // Words are canonical: equal values have equal words. A record built only to be
        // compared is looked up, not interned: one that no value holds equals nothing.
        let eq = match (lhs.word_or_lookup(regs, it)?, rhs.word_or_lookup(regs, it)?) {
            (Some(x), Some(y)) => x == y,
            // Two records that no value holds: built to compare them.
            (None, None) => lhs.word(regs, it)? == rhs.word(regs, it)?,
            _ => false,
        };
        return Ok(eq == (op == CmpOp::Eq));
    }
    if op.is_predicate() {
        return string_predicate(op, lhs, rhs, regs, it);
    }
    let (x, y) = (lhs.num(regs, it)?, rhs.num(regs, it)?);
    // Floats are canonical, so equal values have equal bits.
    let ord = match ty {
        Type::Number => x.cmp(&y),
        _ => functor::compare(ty, x, y),
    };
    Ok(match op {
        CmpOp::Eq => x == y,
        CmpOp::Ne => x != y,
        CmpOp::Lt => ord.is_lt(),
        CmpOp::Le => ord.is_le(),
        CmpOp::Gt => ord.is_gt(),
        CmpOp::Ge => ord.is_ge(),
        CmpOp::Match | CmpOp::NotMatch | CmpOp::Contains | CmpOp::NotContains => false,
    })
}

/// `match(lhs, rhs)`, `contains(lhs, rhs)` and their negations; both sides are symbols.
#[inline(never)]
fn string_predicate(
    op: CmpOp,
    lhs: &CExpr,
    rhs: &CExpr,
    regs: &[Word],
    it: &mut Interner,
) -> Result<bool, &'static str> {
    let (x, y) = (lhs.word(regs, it)?, rhs.word(regs, it)?);
    Ok(match op {
        CmpOp::Match => it.regex_match(x, y)?,
        CmpOp::NotMatch => !it.regex_match(x, y)?,
        CmpOp::Contains => it.contains(x, y),
        CmpOp::NotContains => !it.contains(x, y),
        _ => false,
    })
}

/// A key part of a lookup: a register or a constant.
#[derive(Clone, Debug)]
pub(crate) enum CTerm {
    Reg(usize),
    Const(Word),
}

impl CTerm {
    #[inline]
    fn get(&self, regs: &[Word]) -> Word {
        match self {
            CTerm::Reg(r) => regs[*r],
            CTerm::Const(c) => *c,
        }
    }
}

/// One operation after the registers of a tuple are bound.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// Keep the tuple if the comparison holds (orderings compare values of type `ty`).
    Filter {
        op: CmpOp,
        ty: Type,
        lhs: CExpr,
        rhs: CExpr,
    },
    /// Bind a register.
    Assign { reg: usize, expr: CExpr },
    /// Keep the tuple if no tuple of a complete index has this key.
    NotExists { index: usize, key: Vec<CTerm> },
    /// Bind a register to an aggregate over complete indexes.
    Aggregate(AggOp),
    /// `range(from, to[, step])` (`args`): binds the register to each value in turn and runs
    /// the rest of the operations for each; with `check`, the register is bound already and
    /// the tuple is kept when it is one of the values.
    Range {
        reg: usize,
        check: bool,
        args: Vec<CExpr>,
    },
}

impl Op {
    /// The range of an [`Op::Range`] over the registers: from, to and the step, if given.
    fn range_args(
        args: &[CExpr],
        regs: &[Word],
        it: &Interner,
    ) -> Result<(i64, i64, Option<i64>), &'static str> {
        let from = args
            .first()
            .ok_or("`range` needs two numbers")?
            .num(regs, it)?;
        let to = args
            .get(1)
            .ok_or("`range` needs two numbers")?
            .num(regs, it)?;
        let step = match args.get(2) {
            Some(s) => Some(s.num(regs, it)?),
            None => None,
        };
        Ok((from, to, step))
    }
}

/// A compiled body-form aggregate.
#[derive(Clone, Debug)]
pub(crate) struct AggOp {
    pub reg: usize,
    pub func: AggFunc,
    /// The type of the aggregated values.
    pub ty: Type,
    pub target: Option<CExpr>,
    pub steps: Vec<AggStep>,
    /// Precomputed per group: the id of the group table and the key.
    pub grouped: Option<(usize, Vec<CTerm>)>,
}

/// The result of a grouped aggregate for every group, by key.
pub(crate) type GroupTable =
    std::collections::HashMap<Vec<Word>, Acc, std::hash::BuildHasherDefault<WordHasher>>;

/// A fast hasher for short keys of words (the FxHash scheme: rotate, xor, multiply). Keys are
/// values of the program's own relations, so hash flooding is not a concern here.
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Whole words without a copy (slices of words arrive here as their bytes).
        let mut words = bytes.chunks_exact(4);
        for w in &mut words {
            self.write_u32(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 4];
            for (d, s) in b.iter_mut().zip(rest) {
                *d = *s;
            }
            self.write_u32(u32::from_le_bytes(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Calls its argument with every row of a relation.
pub(crate) type RowSource<'a> = &'a mut dyn FnMut(&mut dyn FnMut(&[Word]));

/// Computes a grouped aggregate's table in one pass over `rows` (each row's columns in
/// relation order, given by `for_each`).
pub(crate) fn group_table(
    g: &crate::plan::GroupedAgg,
    for_each: RowSource<'_>,
    interner: &Interner,
) -> Result<GroupTable, &'static str> {
    let mut table = GroupTable::default();
    let mut regs = vec![0; g.nregs];
    let mut key = Vec::with_capacity(g.key_cols.len());
    let mut error = None;
    for_each(&mut |row| {
        if error.is_some() {
            return;
        }
        key.clear();
        key.extend(g.key_cols.iter().map(|&c| row[c]));
        for (&r, &w) in g.col_regs.iter().zip(row) {
            regs[r] = w;
        }
        let v = match &g.target {
            Some(t) => match t.num(&regs, interner) {
                Ok(v) => Some(v),
                Err(e) => {
                    error = Some(e);
                    return;
                }
            },
            None => None,
        };
        let acc = match table.get_mut(key.as_slice()) {
            Some(acc) => acc,
            None => table.entry(key.clone()).or_insert(Acc::new(g.func, g.ty)),
        };
        acc.add(v);
        if let Some(e) = acc.error {
            error = Some(e);
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok(table),
    }
}

/// A step of an aggregate's nested-loop evaluation.
#[derive(Clone, Debug)]
pub(crate) enum AggStep {
    /// For each tuple with this key, bind the value columns to these registers.
    Lookup {
        index: usize,
        key: Vec<CTerm>,
        bind: Vec<usize>,
    },
    Op(Op),
}

/// Where the rows of a step go: the expressions of the row, and for each destination index
/// the order of the row's columns (key columns first).
#[derive(Clone, Debug)]
pub(crate) struct Sink {
    pub exprs: Vec<CExpr>,
    pub perms: Vec<Vec<usize>>,
}

/// Words of buffered rows after which an emitter pushes them into their index.
const PUSH_BATCH: usize = 4096;

/// Where a word of a row comes from: part 0 (the key), 1 (the first value) or 2 (the second
/// value) of the input tuple, and the position there.
type Src = (u8, usize);

/// Binds, checks and emits. One per step execution; the buffers are taken afterwards.
pub struct Emitter<'a> {
    regs: Vec<Word>,
    kmap: &'a [usize],
    amap: &'a [usize],
    bmap: &'a [usize],
    ops: &'a [Op],
    lookups: &'a [&'a dyn Index],
    groups: &'a [GroupTable],
    interner: &'a mut Interner,
    sink: &'a Sink,
    /// When every output expression is a register: the registers to copy, per destination.
    direct: Option<Vec<Vec<usize>>>,
    /// Per destination: an index to push rows into, or `None` to collect them in `out`.
    dests: Vec<Option<&'a dyn Index>>,
    row: Vec<Word>,
    /// When the step has no operations other than negations on keys of one or two words and
    /// writes only to indexes: per destination, where each word of its row comes from, so that
    /// rows are copied without going through the registers.
    fast: Option<Vec<Vec<Src>>>,
    /// With `fast`: the step's negations, each the index looked up and where the words of its
    /// key come from (a one-word key: the same word twice).
    fast_negs: Vec<(usize, Src, Src)>,
    /// Per destination index: rows written but not yet pushed, flat (pushed a batch at a time,
    /// one dynamic call per batch instead of one per row).
    bufs: Vec<Vec<Word>>,
    /// Scratch space for lookup keys.
    key: Vec<Word>,
    /// Per operation: where its last negation lookup ended.
    hints: Vec<usize>,
    pub(crate) out: Vec<Vec<Word>>,
    pub(crate) error: Option<String>,
    /// Where the failing operation was written (`None`: in the head).
    pub(crate) error_span: Option<Span>,
    spans: &'a [Span],
    /// When the head relation has a lattice column: its merge, which keeps only rows that
    /// raise their key's value.
    merge: Option<&'a std::cell::RefCell<crate::merge::Merge>>,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(
        nregs: usize,
        maps: (&'a [usize], &'a [usize], &'a [usize]),
        (ops, spans): (&'a [Op], &'a [Span]),
        (lookups, groups): (&'a [&'a dyn Index], &'a [GroupTable]),
        interner: &'a mut Interner,
        sink: &'a Sink,
        dests: Vec<Option<&'a dyn Index>>,
    ) -> Self {
        let direct = sink
            .exprs
            .iter()
            .map(|e| match e {
                CExpr::Reg(r) => Some(*r),
                _ => None,
            })
            .collect::<Option<Vec<usize>>>()
            .map(|regs| {
                sink.perms
                    .iter()
                    .map(|p| p.iter().map(|&c| regs[c]).collect())
                    .collect()
            });
        // Without operations other than negations on keys of one or two words, each output and
        // key word is a word of the input tuple: where it comes from.
        let mut src = vec![None; nregs];
        for (part, map) in [maps.0, maps.1, maps.2].into_iter().enumerate() {
            for (i, &r) in map.iter().enumerate() {
                src[r] = Some((part as u8, i));
            }
        }
        let negs = ops
            .iter()
            .map(|op| match op {
                Op::NotExists { index, key } => match key.as_slice() {
                    [CTerm::Reg(a)] => Some((*index, src[*a]?, src[*a]?)),
                    [CTerm::Reg(a), CTerm::Reg(b)] => Some((*index, src[*a]?, src[*b]?)),
                    _ => None,
                },
                _ => None,
            })
            .collect::<Option<Vec<_>>>();
        let fast = direct
            .as_ref()
            .filter(|d: &&Vec<Vec<usize>>| {
                dests.iter().all(Option::is_some) && d.iter().all(|cols| !cols.is_empty())
            })
            .and_then(|d| {
                let rows = d
                    .iter()
                    .map(|cols| cols.iter().map(|&r| src[r]).collect::<Option<Vec<_>>>())
                    .collect::<Option<Vec<_>>>()?;
                Some((negs?, rows))
            });
        let (fast_negs, fast) = match fast {
            Some((negs, rows)) => (negs, Some(rows)),
            None => (Vec::new(), None),
        };
        Emitter {
            fast,
            fast_negs,
            regs: vec![0; nregs],
            kmap: maps.0,
            amap: maps.1,
            bmap: maps.2,
            ops,
            lookups,
            groups,
            interner,
            sink,
            direct,
            dests,
            row: vec![0; sink.exprs.len()],
            bufs: vec![Vec::new(); sink.perms.len()],
            key: Vec::new(),
            hints: vec![0; ops.len()],
            out: vec![Vec::new(); sink.perms.len()],
            error: None,
            error_span: None,
            spans,
            merge: None,
        }
    }

    /// Writes the rows into `merge` (the head relation's) instead of its indexes: the rows that
    /// raise their key's value go in at the end of the round (see `merge.rs`). Rows go through
    /// the registers (no fast path).
    pub(crate) fn with_merge(mut self, merge: &'a std::cell::RefCell<crate::merge::Merge>) -> Self {
        self.merge = Some(merge);
        self.fast = None;
        self.fast_negs.clear();
        self.direct = None;
        self
    }

    /// Records a bug in the plan; evaluation stops with an error instead of a panic.
    pub(crate) fn fail_internal(&mut self, what: &str) {
        self.error
            .get_or_insert_with(|| format!("internal error: {what}"));
    }

    /// Handles one input tuple.
    #[inline(always)]
    pub fn emit(&mut self, k: &[Word], a: &[Word], b: &[Word]) {
        if let Some(fast) = &self.fast {
            let pick = |(part, j): (u8, usize)| match part {
                0 => k[j],
                1 => a[j],
                _ => b[j],
            };
            for (i, &(index, k0, k1)) in self.fast_negs.iter().enumerate() {
                if self.lookups[index].contains_key2(pick(k0), pick(k1), &mut self.hints[i]) {
                    return;
                }
            }
            for (i, cols) in fast.iter().enumerate() {
                let buf = &mut self.bufs[i];
                // Pushed word by word: `extend` through an iterator is sometimes left out of
                // line in this, the hottest loop.
                buf.reserve(cols.len());
                for &c in cols {
                    buf.push(pick(c));
                }
                if buf.len() >= PUSH_BATCH
                    && let Some(index) = self.dests[i]
                {
                    index.push_flat(buf);
                    buf.clear();
                }
            }
            return;
        }
        self.emit_slow(k, a, b);
    }

    /// [`Emitter::emit`] through the registers and the operations.
    #[inline(never)]
    fn emit_slow(&mut self, k: &[Word], a: &[Word], b: &[Word]) {
        for (&r, &w) in self.kmap.iter().zip(k) {
            self.regs[r] = w;
        }
        for (&r, &w) in self.amap.iter().zip(a) {
            self.regs[r] = w;
        }
        for (&r, &w) in self.bmap.iter().zip(b) {
            self.regs[r] = w;
        }
        self.run();
    }

    /// Runs the operations and the output with the registers as they are.
    pub(crate) fn run(&mut self) {
        self.run_from(0);
    }

    /// Runs the operations after the `i`-th, a `range` generator binding `reg`, once for each
    /// value it generates. Kept out of line: the recursion goes through here, so `run_from`
    /// itself is not recursive and stays inlined into the joins' loops.
    #[inline(never)]
    fn generate(&mut self, i: usize, reg: usize, args: &[CExpr]) {
        let (from, to, step) = match Op::range_args(args, &self.regs, self.interner) {
            Ok(r) => r,
            Err(e) => {
                self.error = Some(e.to_string());
                self.error_span = self.spans.get(i).copied();
                return;
            }
        };
        functor::range(from, to, step, &mut |x| {
            self.regs[reg] = self.interner.encode(x);
            self.run_from(i + 1);
            self.error.is_none()
        });
    }

    /// Runs the operations from the `start`-th, then the output.
    fn run_from(&mut self, start: usize) {
        if self.error.is_some() {
            return;
        }
        let ops = self.ops;
        for (i, op) in ops.iter().enumerate().skip(start) {
            if let Op::Range {
                reg,
                check: false,
                args,
            } = op
            {
                self.generate(i, *reg, args);
                return;
            }
            if let Op::NotExists { index, key } = op {
                self.key.clear();
                self.key.extend(key.iter().map(|t| t.get(&self.regs)));
                if self.lookups[*index].contains_key(&self.key, &mut self.hints[i]) {
                    return;
                }
                continue;
            }
            match self.op(op) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.error_span = self.spans.get(i).copied();
                    return;
                }
            }
        }
        if self.direct.is_none() {
            for (i, e) in self.sink.exprs.iter().enumerate() {
                match e.word(&self.regs, self.interner) {
                    Ok(v) => self.row[i] = v,
                    Err(e) => {
                        self.error = Some(e.to_string());
                        return;
                    }
                }
            }
        }
        if let Some(m) = self.merge {
            // The merge holds the row; it goes into the indexes at the end of the round.
            m.borrow_mut().offer(&self.row);
            return;
        }
        for i in 0..self.dests.len() {
            let buf = match self.dests[i] {
                Some(_) => &mut self.bufs[i],
                None => &mut self.out[i],
            };
            let start = buf.len();
            match &self.direct {
                Some(direct) => buf.extend(direct[i].iter().map(|&r| self.regs[r])),
                None => buf.extend(self.sink.perms[i].iter().map(|&c| self.row[c])),
            }
            match self.dests[i] {
                Some(index) if buf.len() == start => index.push(&[]),
                Some(index) if buf.len() >= PUSH_BATCH => {
                    index.push_flat(buf);
                    buf.clear();
                }
                Some(_) => {}
                // A zero-width row is recorded as one marker word.
                None if buf.len() == start => buf.push(0),
                None => {}
            }
        }
    }

    /// Pushes the rows still buffered into their indexes. Call when the step is done.
    pub(crate) fn drain(&mut self) {
        for (buf, dest) in self.bufs.iter_mut().zip(&self.dests) {
            if let Some(index) = dest
                && !buf.is_empty()
            {
                index.push_flat(buf);
                buf.clear();
            }
        }
    }

    fn op(&mut self, op: &Op) -> Result<bool, &'static str> {
        Ok(match op {
            Op::Filter { op, ty, lhs, rhs } => {
                compare(*op, *ty, lhs, rhs, &self.regs, self.interner)?
            }
            Op::Assign { reg, expr } => {
                self.regs[*reg] = expr.word(&self.regs, self.interner)?;
                true
            }
            Op::NotExists { index, key } => {
                self.key.clear();
                self.key.extend(key.iter().map(|t| t.get(&self.regs)));
                let mut found = false;
                self.lookups[*index].lookup(&self.key, &mut |_| {
                    found = true;
                    false
                });
                !found
            }
            Op::Range { reg, args, .. } => {
                // A check (a generator is run by `run_from` and `aggregate`).
                let (from, to, step) = Op::range_args(args, &self.regs, self.interner)?;
                functor::in_range(from, to, step, self.interner.decode(self.regs[*reg]))
            }
            Op::Aggregate(agg) => {
                if let Some((id, key)) = &agg.grouped {
                    self.key.clear();
                    self.key.extend(key.iter().map(|t| t.get(&self.regs)));
                    let result = match self.groups[*id].get(self.key.as_slice()) {
                        Some(acc) => acc.result(),
                        None => Acc::new(agg.func, agg.ty).result(),
                    };
                    return Ok(match result {
                        Some(v) => {
                            self.regs[agg.reg] = self.interner.encode(v);
                            true
                        }
                        None => false,
                    });
                }
                let mut acc = Acc::new(agg.func, agg.ty);
                self.aggregate(&agg.steps, agg.target.as_ref(), &mut acc);
                if let Some(e) = acc.error {
                    return Err(e);
                }
                match acc.result() {
                    Some(v) => {
                        self.regs[agg.reg] = self.interner.encode(v);
                        true
                    }
                    None => false,
                }
            }
        })
    }

    fn aggregate(&mut self, steps: &[AggStep], target: Option<&CExpr>, acc: &mut Acc) {
        if acc.error.is_some() {
            return;
        }
        let Some((first, rest)) = steps.split_first() else {
            let v = match target {
                Some(t) => match t.num(&self.regs, self.interner) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        acc.error = Some(e);
                        return;
                    }
                },
                None => None,
            };
            acc.add(v);
            return;
        };
        match first {
            AggStep::Op(Op::Range {
                reg,
                check: false,
                args,
            }) => {
                let (from, to, step) = match Op::range_args(args, &self.regs, self.interner) {
                    Ok(r) => r,
                    Err(e) => {
                        acc.error = Some(e);
                        return;
                    }
                };
                functor::range(from, to, step, &mut |x| {
                    self.regs[*reg] = self.interner.encode(x);
                    self.aggregate(rest, target, acc);
                    acc.error.is_none()
                });
            }
            AggStep::Op(op) => match self.op(op) {
                Ok(true) => self.aggregate(rest, target, acc),
                Ok(false) => {}
                Err(e) => acc.error = Some(e),
            },
            AggStep::Lookup { index, key, bind } => {
                let key: Vec<Word> = key.iter().map(|t| t.get(&self.regs)).collect();
                let lookups = self.lookups;
                lookups[*index].lookup(&key, &mut |val| {
                    for (&r, &w) in bind.iter().zip(val) {
                        self.regs[r] = w;
                    }
                    self.aggregate(rest, target, acc);
                    acc.error.is_none()
                });
            }
        }
    }
}

/// A running aggregate.
#[derive(Clone, Debug)]
pub(crate) struct Acc {
    func: AggFunc,
    /// The type of the aggregated values (`mean`'s result is a float).
    ty: Type,
    count: i64,
    value: Option<i64>,
    /// `mean`: the sum so far, as a float.
    total: f64,
    pub(crate) error: Option<&'static str>,
}

impl Acc {
    pub(crate) fn new(func: AggFunc, ty: Type) -> Self {
        Acc {
            func,
            ty,
            count: 0,
            value: None,
            total: 0.0,
            error: None,
        }
    }

    pub(crate) fn add(&mut self, v: Option<i64>) {
        self.count += 1;
        let Some(v) = v else { return };
        if self.func == AggFunc::Mean {
            self.total += match self.ty {
                Type::Float => calm_ir::number::float_of(v),
                Type::Unsigned => v as u64 as f64,
                _ => v as f64,
            };
            return;
        }
        self.value = Some(match (self.func, self.value) {
            (_, None) => v,
            (AggFunc::Sum, Some(s)) if self.ty == Type::Number => match s.checked_add(v) {
                Some(s) => s,
                None => {
                    self.error = Some("arithmetic overflow in sum");
                    s
                }
            },
            (AggFunc::Sum, Some(s)) => match functor::arith_typed(self.ty, BinOp::Add, s, v) {
                Ok(s) => s,
                Err(_) => {
                    self.error = Some("arithmetic overflow in sum");
                    s
                }
            },
            (AggFunc::Min, Some(m)) if functor::compare(self.ty, v, m).is_lt() => v,
            (AggFunc::Max, Some(m)) if functor::compare(self.ty, v, m).is_gt() => v,
            (_, Some(m)) => m,
        });
    }

    pub(crate) fn result(&self) -> Option<i64> {
        match self.func {
            AggFunc::Count => Some(self.count),
            AggFunc::Sum => Some(self.value.unwrap_or(0)),
            AggFunc::Min | AggFunc::Max => self.value,
            AggFunc::Mean => (self.count > 0)
                .then(|| calm_ir::number::float_bits(self.total / self.count as f64)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compiled_expressions_stay_small() {
        assert!(std::mem::size_of::<super::CExpr>() <= 40);
    }
}
