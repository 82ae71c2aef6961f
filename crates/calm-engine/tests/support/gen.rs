//! Random programs for the differential tests.
//!
//! Generation happens in two steps so that shrinking stays meaningful: proptest strategies produce
//! a "raw" program (plain vectors, small integers and enums, which proptest knows how to shrink),
//! and [`build`] turns any raw program deterministically into a valid one: stratified by
//! construction, range-restricted, finite. Shrinking the raw program (dropping rules, literals,
//! facts; moving numbers toward 0) thus always yields another valid program.
//!
//! Stratification: every relation gets a level. A deductive rule for a relation at level `L`
//! uses positive atoms of relations at levels `<= L` (recursion, mutual recursion) and negated
//! atoms and aggregates of relations at levels `< L` only. Level-0 relations have no deductive
//! rules; they get the inserted facts.
//!
//! Finiteness: arithmetic results in recursive rules (and every new value in Dedalus programs)
//! are guarded by `-12 <= v <= 12`; `*` never multiplies two variables; `/` and `%` only divide
//! by non-zero constants.
//!
//! Dedalus termination: an `@next` rule either derives a `.persist`ed relation (persisted
//! relations only grow, over a finite domain) or has `clk(c), !clk(K)` in its body, where the
//! persisted `clk` holds `0..=t` at tick `t` up to `K`: after tick `K` only the monotone part
//! keeps going. (This holds whether given facts hold at tick 0 only or at every tick.)

use super::naive::{AggFunc, Atom, BinOp, CmpOp, Expr, Lat, Lit, Program, Rule, Term, Time};
use proptest::array::{uniform2, uniform3};
use proptest::collection::vec;
use proptest::prelude::*;

/// Which kind of program to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain stratified Datalog.
    Stratified,
    /// Dedalus: `@next` rules and `.persist`.
    Dedalus,
}

/// Bound for new values (arithmetic, aggregates) where they could feed back into themselves.
pub const GUARD: i64 = 12;

#[derive(Clone, Debug)]
pub enum RawTerm {
    Var(u8),
    Const(i64),
    Wild,
}

#[derive(Clone, Debug)]
pub struct RawAtom {
    rel: u8,
    args: [RawTerm; 3],
}

#[derive(Clone, Debug)]
pub enum RawAggTerm {
    Outer(u8),
    Local(u8),
    Const(i64),
}

#[derive(Clone, Debug)]
pub enum RawLit {
    Cmp(u8, RawTerm, RawTerm),
    Assign(u8, RawTerm, RawTerm),
    Neg(RawAtom),
    Agg {
        func: u8,
        rel: u8,
        args: [RawAggTerm; 3],
        target: u8,
        filter: Option<(u8, i64)>,
    },
}

#[derive(Clone, Debug)]
pub struct RawRule {
    head: u8,
    head_args: [RawTerm; 3],
    pos: Vec<RawAtom>,
    extra: Vec<RawLit>,
    rotate: u8,
    next: bool,
}

/// A lattice relation `lat(key, value)` added above the other relations: seeded from one
/// relation, grown along another (`lat(y, v ± step) :- lat(x, v), along(x, y, ...)`, towards
/// the bottom of the lattice, so values stay bounded by the seeds), read by a threshold
/// (`lat_hot`) and raw (`lat_raw`).
#[derive(Clone, Debug)]
pub struct RawLattice {
    /// 0 max, 1 min, 2 bool, 3 counter, 4 lww.
    kind: u8,
    seed: u8,
    along: u8,
    step: u8,
    threshold: i64,
    persist: bool,
    facts: Vec<[i64; 2]>,
}

/// `(arity, level, persist)` per relation.
#[derive(Clone, Debug)]
pub struct RawProgram {
    rels: Vec<(u8, u8, bool)>,
    rules: Vec<RawRule>,
    facts: Vec<(u8, [i64; 3])>,
    idb_facts: Vec<(u8, [i64; 3])>,
    clock: u8,
    lattice: Option<RawLattice>,
}

fn raw_lattice() -> impl Strategy<Value = RawLattice> {
    (
        0u8..5,
        any::<u8>(),
        any::<u8>(),
        0u8..3,
        -2i64..8,
        any::<bool>(),
        vec(uniform2(-3i64..6), 0..=3),
    )
        .prop_map(
            |(kind, seed, along, step, threshold, persist, facts)| RawLattice {
                kind,
                seed,
                along,
                step,
                threshold,
                persist,
                facts,
            },
        )
}

fn raw_term() -> impl Strategy<Value = RawTerm> {
    prop_oneof![
        6 => (0u8..8).prop_map(RawTerm::Var),
        1 => (0i64..6).prop_map(RawTerm::Const),
        1 => Just(RawTerm::Wild),
    ]
}

fn raw_atom() -> impl Strategy<Value = RawAtom> {
    (any::<u8>(), uniform3(raw_term())).prop_map(|(rel, args)| RawAtom { rel, args })
}

fn raw_agg_term() -> impl Strategy<Value = RawAggTerm> {
    prop_oneof![
        3 => (0u8..8).prop_map(RawAggTerm::Outer),
        3 => (0u8..3).prop_map(RawAggTerm::Local),
        1 => (0i64..6).prop_map(RawAggTerm::Const),
    ]
}

fn raw_lit() -> impl Strategy<Value = RawLit> {
    prop_oneof![
        3 => (0u8..6, raw_term(), raw_term()).prop_map(|(op, a, b)| RawLit::Cmp(op, a, b)),
        2 => (0u8..15, raw_term(), raw_term()).prop_map(|(op, a, b)| RawLit::Assign(op, a, b)),
        2 => raw_atom().prop_map(RawLit::Neg),
        2 => (
            0u8..4,
            any::<u8>(),
            uniform3(raw_agg_term()),
            0u8..3,
            proptest::option::weighted(0.25, (0u8..6, 0i64..6)),
        )
            .prop_map(|(func, rel, args, target, filter)| RawLit::Agg {
                func,
                rel,
                args,
                target,
                filter,
            }),
    ]
}

fn raw_rule() -> impl Strategy<Value = RawRule> {
    (
        any::<u8>(),
        uniform3(raw_term()),
        vec(raw_atom(), 1..=3),
        vec(raw_lit(), 0..=3),
        0u8..4,
        any::<bool>(),
    )
        .prop_map(|(head, head_args, pos, extra, rotate, next)| RawRule {
            head,
            head_args,
            pos,
            extra,
            rotate,
            next,
        })
}

fn raw_program(max_rules: usize) -> impl Strategy<Value = RawProgram> {
    (
        vec((1u8..=3, 0u8..=3, any::<bool>()), 2..=6),
        vec(raw_rule(), 1..=max_rules),
        vec((any::<u8>(), uniform3(0i64..6)), 0..=20),
        vec((any::<u8>(), uniform3(0i64..6)), 0..=2),
        0u8..=4,
        proptest::option::weighted(0.5, raw_lattice()),
    )
        .prop_map(
            |(rels, rules, facts, idb_facts, clock, lattice)| RawProgram {
                rels,
                rules,
                facts,
                idb_facts,
                clock,
                lattice,
            },
        )
}

/// Random valid programs of the given mode.
pub fn program(mode: Mode) -> impl Strategy<Value = Program> {
    let max_rules = match mode {
        Mode::Stratified => 8,
        Mode::Dedalus => 6,
    };
    raw_program(max_rules).prop_map(move |raw| build(&raw, mode))
}

struct Ctx {
    mode: Mode,
    arities: Vec<usize>,
    levels: Vec<usize>,
    persist: Vec<bool>,
    /// The `clk` relation (Dedalus only).
    clk: Option<usize>,
    /// The last tick at which `clk`-guarded rules fire.
    clock_limit: i64,
}

fn pick<T: Copy>(xs: &[T], k: u8) -> Option<T> {
    if xs.is_empty() {
        None
    } else {
        Some(xs[k as usize % xs.len()])
    }
}

fn cmp_op(k: u8) -> CmpOp {
    [
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Eq,
        CmpOp::Ne,
    ][k as usize % 6]
}

/// A term over already bound variables: a variable becomes one of `bound` (a constant if none).
fn bound_term(t: &RawTerm, bound: &[String]) -> Term {
    match t {
        RawTerm::Var(k) => match bound.get(*k as usize % bound.len().max(1)) {
            Some(v) => Term::Var(v.clone()),
            None => Term::Const(i64::from(*k) % 6),
        },
        RawTerm::Const(c) => Term::Const(*c),
        RawTerm::Wild => match bound.first() {
            Some(v) => Term::Var(v.clone()),
            None => Term::Const(0),
        },
    }
}

fn push_var(vars: &mut Vec<String>, v: &str) {
    if !vars.iter().any(|x| x == v) {
        vars.push(v.to_string());
    }
}

fn guard(body: &mut Vec<Lit>, v: &str) {
    body.push(Lit::Cmp(CmpOp::Le, Term::Var(v.into()), Term::Const(GUARD)));
    body.push(Lit::Cmp(
        CmpOp::Ge,
        Term::Var(v.into()),
        Term::Const(-GUARD),
    ));
}

impl Ctx {
    fn rels(&self, keep: impl Fn(usize) -> bool) -> Vec<usize> {
        (0..self.arities.len()).filter(|&r| keep(r)).collect()
    }

    fn rule(&self, raw: &RawRule) -> Option<Rule> {
        let next = self.mode == Mode::Dedalus && raw.next;
        let not_clk = |r| Some(r) != self.clk;
        let heads = if next {
            self.rels(not_clk)
        } else {
            self.rels(|r| self.levels[r] >= 1 && not_clk(r))
        };
        let head = pick(&heads, raw.head)?;
        let level = if next { usize::MAX } else { self.levels[head] };
        let pos_cands = self.rels(|r| self.levels[r] <= level);
        let lower = self.rels(|r| self.levels[r] < level);

        let mut body = Vec::new();
        // Variables bound by positive atoms; then also by assignments and aggregates.
        let mut pos_vars: Vec<String> = Vec::new();
        if next && !self.persist[head] {
            let clk = self.clk.expect("Dedalus programs have a clock");
            body.push(Lit::Pos(Atom {
                rel: clk,
                args: vec![Term::Var("c".into())],
            }));
            body.push(Lit::Neg(Atom {
                rel: clk,
                args: vec![Term::Const(self.clock_limit)],
            }));
            pos_vars.push("c".into());
        }
        let mut recursive = false;
        for a in &raw.pos {
            let rel = pick(&pos_cands, a.rel)?;
            recursive |= self.levels[rel] == level;
            let args = a.args[..self.arities[rel]]
                .iter()
                .map(|t| match t {
                    RawTerm::Var(k) => {
                        let v = format!("x{}", k % 4);
                        push_var(&mut pos_vars, &v);
                        Term::Var(v)
                    }
                    RawTerm::Const(c) => Term::Const(*c),
                    RawTerm::Wild => Term::Wild,
                })
                .collect();
            body.push(Lit::Pos(Atom { rel, args }));
        }
        let guarded = self.mode == Mode::Dedalus || recursive;
        let mut bound = pos_vars.clone();
        for (i, lit) in raw.extra.iter().enumerate() {
            match lit {
                RawLit::Cmp(op, a, b) => {
                    body.push(Lit::Cmp(
                        cmp_op(*op),
                        bound_term(a, &bound),
                        bound_term(b, &bound),
                    ));
                }
                RawLit::Assign(op, a, b) => {
                    let v = format!("z{i}");
                    let lhs = bound_term(a, &bound);
                    let rhs = bound_term(b, &bound);
                    let divisor = |t: &RawTerm| {
                        let k = match t {
                            RawTerm::Var(k) => i64::from(*k),
                            RawTerm::Const(c) => *c,
                            RawTerm::Wild => 0,
                        };
                        let d = k % 7 - 3;
                        Term::Const(if d == 0 { 2 } else { d })
                    };
                    let small = |t: &RawTerm| {
                        let k = match t {
                            RawTerm::Var(k) => i64::from(*k),
                            RawTerm::Const(c) => *c,
                            RawTerm::Wild => 0,
                        };
                        Term::Const(k.rem_euclid(3))
                    };
                    let expr = match op % 15 {
                        6 => Expr::Bin(BinOp::Band, lhs, rhs),
                        7 => Expr::Bin(BinOp::Bor, lhs, rhs),
                        8 => Expr::Bin(BinOp::Bxor, lhs, rhs),
                        9 => Expr::Bin(BinOp::Bshl, lhs, small(b)),
                        10 => Expr::Bin(BinOp::Bshr, lhs, small(b)),
                        11 => Expr::Bin(BinOp::Land, lhs, rhs),
                        12 => Expr::Bin(BinOp::Lor, lhs, rhs),
                        13 => Expr::Bin(BinOp::Lxor, lhs, rhs),
                        // `-3 ^ 2` would read as `-(3 ^ 2)`: only variables are raised.
                        14 => match lhs {
                            Term::Var(_) => Expr::Bin(BinOp::Pow, lhs, small(b)),
                            _ => Expr::Bin(BinOp::Add, lhs, rhs),
                        },
                        0 => Expr::Bin(BinOp::Add, lhs, rhs),
                        1 => Expr::Bin(BinOp::Sub, lhs, rhs),
                        2 => match (&lhs, &rhs) {
                            (Term::Var(_), Term::Var(_)) => Expr::Bin(BinOp::Mul, lhs, divisor(b)),
                            _ => Expr::Bin(BinOp::Mul, lhs, rhs),
                        },
                        3 => Expr::Bin(BinOp::Div, lhs, divisor(b)),
                        4 => Expr::Bin(BinOp::Rem, lhs, divisor(b)),
                        _ => Expr::Neg(lhs),
                    };
                    body.push(Lit::Assign(v.clone(), expr));
                    if guarded {
                        guard(&mut body, &v);
                    }
                    bound.push(v);
                }
                RawLit::Neg(a) => {
                    let Some(rel) = pick(&lower, a.rel) else {
                        continue;
                    };
                    let args = a.args[..self.arities[rel]]
                        .iter()
                        .map(|t| match t {
                            RawTerm::Wild => Term::Wild,
                            t => bound_term(t, &bound),
                        })
                        .collect();
                    body.push(Lit::Neg(Atom { rel, args }));
                }
                RawLit::Agg {
                    func,
                    rel,
                    args,
                    target,
                    filter,
                } => {
                    let Some(rel) = pick(&lower, *rel) else {
                        continue;
                    };
                    let mut locals: Vec<String> = Vec::new();
                    let args = args[..self.arities[rel]]
                        .iter()
                        .map(|t| {
                            let local = |k: u8, locals: &mut Vec<String>| {
                                let v = format!("a{i}_{k}");
                                push_var(locals, &v);
                                Term::Var(v)
                            };
                            match t {
                                RawAggTerm::Outer(k) if pos_vars.is_empty() => {
                                    local(k % 3, &mut locals)
                                }
                                RawAggTerm::Outer(k) => {
                                    Term::Var(pos_vars[*k as usize % pos_vars.len()].clone())
                                }
                                RawAggTerm::Local(k) => local(*k, &mut locals),
                                RawAggTerm::Const(c) => Term::Const(*c),
                            }
                        })
                        .collect();
                    let func = match (func % 4, locals.is_empty()) {
                        (_, true) | (0, _) => AggFunc::Count,
                        (1, _) => AggFunc::Sum,
                        (2, _) => AggFunc::Min,
                        _ => AggFunc::Max,
                    };
                    let target = match func {
                        AggFunc::Count => None,
                        _ => Some(locals[*target as usize % locals.len()].clone()),
                    };
                    let filter = match (filter, locals.first()) {
                        (Some((op, c)), Some(v)) => {
                            Some((cmp_op(*op), Term::Var(v.clone()), Term::Const(*c)))
                        }
                        _ => None,
                    };
                    let v = format!("n{i}");
                    body.push(Lit::Agg {
                        result: v.clone(),
                        func,
                        target,
                        atom: Atom { rel, args },
                        filter,
                    });
                    if guarded {
                        guard(&mut body, &v);
                    }
                    bound.push(v);
                }
            }
        }
        let head_args = raw.head_args[..self.arities[head]]
            .iter()
            .map(|t| bound_term(t, &bound))
            .collect();
        Some(Rule {
            head: Atom {
                rel: head,
                args: head_args,
            },
            time: if next { Time::Next } else { Time::Now },
            body,
            rotate: usize::from(raw.rotate),
        })
    }
}

/// Turns a raw program into a valid one (see the module documentation).
pub fn build(raw: &RawProgram, mode: Mode) -> Program {
    let mut arities: Vec<usize> = raw.rels.iter().map(|r| usize::from(r.0)).collect();
    let mut levels: Vec<usize> = raw.rels.iter().map(|r| usize::from(r.1)).collect();
    levels[0] = 0;
    let mut persist: Vec<bool> = match mode {
        Mode::Stratified => vec![false; arities.len()],
        Mode::Dedalus => raw.rels.iter().map(|r| r.2).collect(),
    };
    let mut names: Vec<String> = (0..arities.len()).map(|i| format!("r{i}")).collect();
    let n = arities.len();
    let mut clk = None;
    if mode == Mode::Dedalus {
        clk = Some(n);
        arities.push(1);
        levels.push(0);
        persist.push(true);
        names.push("clk".into());
    }
    let mut ctx = Ctx {
        mode,
        arities,
        levels,
        persist,
        clk,
        clock_limit: i64::from(raw.clock) + 1,
    };
    let mut rules: Vec<Rule> = raw.rules.iter().filter_map(|r| ctx.rule(r)).collect();
    let mut program_facts = Vec::new();
    if let Some(clk) = clk {
        // .persist clk  clk(0).  clk(t)@next :- clk(s), t = s + 1, t <= K.
        program_facts.push((clk, vec![0]));
        rules.push(Rule {
            head: Atom {
                rel: clk,
                args: vec![Term::Var("t".into())],
            },
            time: Time::Next,
            body: vec![
                Lit::Pos(Atom {
                    rel: clk,
                    args: vec![Term::Var("s".into())],
                }),
                Lit::Assign(
                    "t".into(),
                    Expr::Bin(BinOp::Add, Term::Var("s".into()), Term::Const(1)),
                ),
                Lit::Cmp(
                    CmpOp::Le,
                    Term::Var("t".into()),
                    Term::Const(ctx.clock_limit),
                ),
            ],
            rotate: 0,
        });
    }
    let base: Vec<usize> = (0..n).filter(|&r| ctx.levels[r] == 0).collect();
    let inserted = raw
        .facts
        .iter()
        .filter_map(|(r, t)| {
            let rel = pick(&base, *r)?;
            Some((rel, t[..ctx.arities[rel]].to_vec()))
        })
        .collect();
    let all: Vec<usize> = (0..n).collect();
    program_facts.extend(raw.idb_facts.iter().filter_map(|(r, t)| {
        let rel = pick(&all, *r)?;
        Some((rel, t[..ctx.arities[rel]].to_vec()))
    }));
    let mut lattice = vec![None; ctx.arities.len()];
    if let Some(l) = &raw.lattice {
        add_lattice(
            l,
            &mut ctx,
            &mut names,
            &mut lattice,
            &mut rules,
            &mut program_facts,
        );
    }
    Program {
        arities: ctx.arities,
        names,
        persist: ctx.persist,
        lattice,
        rules,
        program_facts,
        inserted,
    }
}

/// Adds the relations and rules of [`RawLattice`] (nothing when no relation has two columns).
fn add_lattice(
    l: &RawLattice,
    ctx: &mut Ctx,
    names: &mut Vec<String>,
    lattice: &mut Vec<Option<Lat>>,
    rules: &mut Vec<Rule>,
    facts: &mut Vec<(usize, Vec<i64>)>,
) {
    let wide: Vec<usize> = (0..ctx.arities.len())
        .filter(|&r| ctx.arities[r] >= 2 && Some(r) != ctx.clk)
        .collect();
    let (Some(seed), Some(along)) = (pick(&wide, l.seed), pick(&wide, l.along)) else {
        return;
    };
    let mut add = |name: &str, arity: usize, lat: Option<Lat>, persist: bool| {
        let id = ctx.arities.len();
        ctx.arities.push(arity);
        ctx.levels.push(usize::MAX);
        ctx.persist.push(persist && ctx.mode == Mode::Dedalus);
        names.push(name.into());
        lattice.push(lat);
        id
    };
    let kind = [Lat::Max, Lat::Min, Lat::Bool, Lat::Counter, Lat::Lww][usize::from(l.kind % 5)];
    let arity = 1 + kind.width();
    let lat = add("lat", arity, Some(kind), l.persist);
    let hot = add("lat_hot", 1, None, false);
    let raw = add("lat_raw", 2, None, false);
    let v = |s: &str| Term::Var(s.into());
    let atom = |rel: usize, args: Vec<Term>| Atom { rel, args };
    let wide_atom = |rel: usize, a: &str, b: &str| {
        let mut args = vec![v(a), v(b)];
        args.resize(ctx.arities[rel], Term::Wild);
        atom(rel, args)
    };
    let rule = |head: Atom, body: Vec<Lit>| Rule {
        head,
        time: Time::Now,
        body,
        rotate: 0,
    };
    if kind == Lat::Lww {
        // Seeds `(x, d % 2, d, x)`: odd `d` dominate even ones, then the larger `d` wins;
        // copied along, read by a threshold on the timestamp and raw.
        rules.push(rule(
            atom(lat, vec![v("x"), v("t"), v("d"), v("x")]),
            vec![
                Lit::Pos(wide_atom(seed, "x", "d")),
                Lit::Assign("t".into(), Expr::Bin(BinOp::Rem, v("d"), Term::Const(2))),
            ],
        ));
        rules.push(Rule {
            rotate: 1,
            ..rule(
                atom(lat, vec![v("y"), v("t"), v("w"), v("u")]),
                vec![
                    Lit::Pos(atom(lat, vec![v("x"), v("t"), v("w"), v("u")])),
                    Lit::Pos(wide_atom(along, "x", "y")),
                ],
            )
        });
        rules.push(rule(
            atom(hot, vec![v("x")]),
            vec![
                Lit::Pos(atom(lat, vec![v("x"), v("t"), v("w"), v("u")])),
                Lit::Cmp(CmpOp::Ge, v("t"), Term::Const(l.threshold % 2)),
            ],
        ));
        rules.push(rule(
            atom(raw, vec![v("x"), v("w")]),
            vec![
                Lit::Pos(atom(lat, vec![v("x"), v("t"), v("w"), v("u")])),
                Lit::Cmp(CmpOp::Ne, v("w"), Term::Const(l.threshold)),
            ],
        ));
        facts.extend(
            l.facts
                .iter()
                .map(|f| (lat, vec![f[0], f[1] % 2, f[1], f[0]])),
        );
        return;
    }
    rules.push(rule(
        atom(lat, vec![v("x"), v("d")]),
        vec![Lit::Pos(wide_atom(seed, "x", "d"))],
    ));
    // Towards the bottom of the lattice (`bool`: a copy, the only expression a `bool` head
    // takes monotonically).
    let down = kind != Lat::Min;
    if kind == Lat::Bool {
        rules.push(Rule {
            rotate: 1,
            ..rule(
                atom(lat, vec![v("y"), v("d")]),
                vec![
                    Lit::Pos(atom(lat, vec![v("x"), v("d")])),
                    Lit::Pos(wide_atom(along, "x", "y")),
                ],
            )
        });
    } else {
        let op = if down { BinOp::Sub } else { BinOp::Add };
        rules.push(Rule {
            rotate: 1,
            ..rule(
                atom(lat, vec![v("y"), v("z")]),
                vec![
                    Lit::Pos(atom(lat, vec![v("x"), v("d")])),
                    Lit::Pos(wide_atom(along, "x", "y")),
                    Lit::Assign(
                        "z".into(),
                        Expr::Bin(op, v("d"), Term::Const(i64::from(l.step))),
                    ),
                ],
            )
        });
    }
    let op = if down { CmpOp::Ge } else { CmpOp::Le };
    rules.push(rule(
        atom(hot, vec![v("x")]),
        vec![
            Lit::Pos(atom(lat, vec![v("x"), v("d")])),
            Lit::Cmp(op, v("d"), Term::Const(l.threshold)),
        ],
    ));
    rules.push(rule(
        atom(raw, vec![v("x"), v("d")]),
        vec![
            Lit::Pos(atom(lat, vec![v("x"), v("d")])),
            Lit::Cmp(CmpOp::Ne, v("d"), Term::Const(l.threshold)),
        ],
    ));
    facts.extend(l.facts.iter().map(|f| (lat, f.to_vec())));
}
