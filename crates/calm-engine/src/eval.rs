//! Evaluating one tick: strata in order, each to a fixpoint with a datafrog `Iteration`.

use crate::emit::{Emitter, GroupTable, group_table};
use crate::index::{Index, Mode, Word, new_index};
use crate::merge::Merge;
use crate::plan::{Dest, IndexSpec, Slot, Step, StepKind, StratumPlan};
use crate::value::Interner;
use calm_ir::{Program, RelId, RuleId};
use datafrog::Iteration;
use std::cell::RefCell;
use std::collections::HashMap;

/// The complete relations of a tick, as finished indexes (every index of a relation holds all
/// of its columns, so any one of them gives the relation).
#[derive(Default)]
pub(crate) struct Db {
    indexes: HashMap<IndexSpec, Box<dyn Index>>,
    by_rel: HashMap<RelId, Vec<IndexSpec>>,
}

impl Db {
    fn put(&mut self, spec: IndexSpec, index: Box<dyn Index>) {
        self.by_rel.entry(spec.rel).or_default().push(spec.clone());
        self.indexes.insert(spec, index);
    }

    /// Makes sure an index with this layout exists, re-keying another index of the relation.
    fn ensure(&mut self, spec: &IndexSpec) {
        if self.indexes.contains_key(spec) {
            return;
        }
        let index = new_index(spec.key.len(), spec.val.len(), None, "static");
        if let Some(from) = self.by_rel.get(&spec.rel).and_then(|v| v.first()) {
            let src = &self.indexes[from];
            let width = spec.key.len() + spec.val.len();
            // Position, in the source index's word order, of each column.
            let mut pos = vec![0; width];
            for (i, c) in from.cols().enumerate() {
                pos[c] = i;
            }
            let order: Vec<usize> = spec.cols().map(|c| pos[c]).collect();
            let mut flat = Vec::with_capacity(src.len() * width);
            let mut row = vec![0; width];
            src.for_each(&mut |k, v| {
                row[..k.len()].copy_from_slice(k);
                row[k.len()..].copy_from_slice(v);
                flat.extend(order.iter().map(|&i| row[i]));
            });
            if width == 0 && !src.is_empty() {
                flat.push(0);
            }
            index.insert_flat(&flat);
        }
        index.finish();
        self.put(spec.clone(), index);
    }

    /// The rows of a relation in column order, sorted by word.
    pub fn rows(&self, rel: RelId, arity: usize) -> Vec<Vec<Word>> {
        let Some(spec) = self.by_rel.get(&rel).and_then(|v| v.first()) else {
            return Vec::new();
        };
        let src = &self.indexes[spec];
        let cols: Vec<usize> = spec.cols().collect();
        let mut out = Vec::with_capacity(src.len());
        src.for_each(&mut |k, v| {
            let mut row = vec![0; arity];
            for (i, &w) in k.iter().chain(v).enumerate() {
                row[cols[i]] = w;
            }
            out.push(row);
        });
        out.sort_unstable();
        out
    }

    /// Calls `f` with every row of a relation, columns in relation order.
    pub fn for_each_row(&self, rel: RelId, arity: usize, f: &mut dyn FnMut(&[Word])) {
        let Some(spec) = self.by_rel.get(&rel).and_then(|v| v.first()) else {
            return;
        };
        let cols: Vec<usize> = spec.cols().collect();
        let mut row = vec![0; arity];
        self.indexes[spec].for_each(&mut |k, v| {
            for (i, &w) in k.iter().chain(v).enumerate() {
                row[cols[i]] = w;
            }
            f(&row);
        });
    }

    /// The tables of a plan's grouped aggregates.
    fn groups(
        &self,
        prog: &Program,
        plan: &StratumPlan,
        interner: &Interner,
    ) -> Result<Vec<GroupTable>, RuleError> {
        plan.grouped
            .iter()
            .map(|g| {
                let arity = prog.relations[g.rel].arity;
                group_table(g, &mut |f| self.for_each_row(g.rel, arity, f), interner).map_err(|e| {
                    RuleError {
                        rule: g.rule,
                        message: e.to_string(),
                        span: Some(g.span),
                    }
                })
            })
            .collect()
    }

    /// The rows of a relation in column order, flat (one marker word for a zero-column row),
    /// in the order of one of its indexes.
    pub fn flat_rows(&self, rel: RelId, arity: usize) -> Vec<Word> {
        if arity == 0 {
            return if self.len(rel) > 0 {
                vec![0]
            } else {
                Vec::new()
            };
        }
        let mut out = Vec::with_capacity(self.len(rel) * arity);
        self.for_each_row(rel, arity, &mut |row| out.extend_from_slice(row));
        out
    }

    /// Number of tuples in a relation.
    pub fn len(&self, rel: RelId) -> usize {
        self.by_rel
            .get(&rel)
            .and_then(|v| v.first())
            .map_or(0, |s| self.indexes[s].len())
    }
}

/// A runtime failure inside a rule.
#[derive(Debug)]
pub(crate) struct RuleError {
    pub rule: RuleId,
    pub message: String,
    /// The operation that failed; `None` when it was the head.
    pub span: Option<calm_syntax::Span>,
}

/// Evaluates a stratum: `base` holds, per relation, the flat rows given at this tick.
pub(crate) fn eval_stratum(
    prog: &Program,
    plan: &StratumPlan,
    db: &mut Db,
    base: &[Vec<Word>],
    interner: &mut Interner,
) -> Result<(), RuleError> {
    for spec in &plan.static_specs {
        db.ensure(spec);
    }
    let groups = db.groups(prog, plan, interner)?;
    // A recursive stratum iterates with datafrog variables; any other is computed in one pass
    // into fixed indexes, without the bookkeeping of rounds.
    let mut it = plan.recursive.then(Iteration::new);
    let dyns: Vec<Box<dyn Index>> = plan
        .dyn_specs
        .iter()
        .map(|s| {
            new_index(
                s.key.len(),
                s.val.len(),
                it.as_mut(),
                &prog.relations[s.rel].name,
            )
        })
        .collect();
    let inters: Vec<Box<dyn Index>> = plan
        .inters
        .iter()
        .map(|&(k, v)| new_index(k, v, it.as_mut(), "intermediate"))
        .collect();
    // Lattice relations: given rows are merged first, and only each key's value goes in.
    let merges: HashMap<RelId, RefCell<Merge>> = plan
        .relations
        .iter()
        .filter_map(|&rel| {
            let info = &prog.relations[rel];
            let mut m = Merge::new(info.lattice?, &info.types);
            for row in base[rel].chunks_exact(info.arity) {
                m.offer(row);
            }
            // Given rows go into the indexes below, as they are merged.
            m.take_raised(interner);
            Some((rel, RefCell::new(m)))
        })
        .collect();
    let merged: HashMap<RelId, Vec<Word>> = merges
        .iter()
        .map(|(&rel, m)| (rel, m.borrow().rows()))
        .collect();
    for (spec, index) in plan.dyn_specs.iter().zip(&dyns) {
        let rows = merged.get(&spec.rel).unwrap_or(&base[spec.rel]);
        if rows.is_empty() {
            continue;
        }
        let arity = prog.relations[spec.rel].arity;
        let order: Vec<usize> = spec.cols().collect();
        if arity == 0 {
            index.insert_flat(&[0]);
            continue;
        }
        let mut flat = Vec::with_capacity(rows.len());
        for row in rows.chunks_exact(arity) {
            flat.extend(order.iter().map(|&c| row[c]));
        }
        index.insert_flat(&flat);
    }
    {
        let statics: Vec<&dyn Index> = plan.static_specs.iter().map(|s| &*db.indexes[s]).collect();
        let ctx = Ctx {
            dyns: &dyns,
            statics: &statics,
            groups: &groups,
            inters: &inters,
            merges: &merges,
        };
        let mut sink = Vec::new();
        ctx.run_plan(plan, it.as_mut(), &mut sink, interner)?;
    }
    for (spec, index) in plan.dyn_specs.iter().zip(dyns) {
        index.finish();
        let Some(m) = merges.get(&spec.rel) else {
            db.put(spec.clone(), index);
            continue;
        };
        // Complete: one row per key, the join of its values (a stratum without iteration
        // merges here what its one pass offered).
        drop(index);
        m.borrow_mut().take_raised(interner);
        let arity = prog.relations[spec.rel].arity;
        let order: Vec<usize> = spec.cols().collect();
        let rows = m.borrow().rows();
        let mut flat = Vec::with_capacity(rows.len());
        for row in rows.chunks_exact(arity) {
            flat.extend(order.iter().map(|&c| row[c]));
        }
        let fixed = new_index(spec.key.len(), spec.val.len(), None, "lattice");
        fixed.insert_flat(&flat);
        fixed.finish();
        db.put(spec.clone(), fixed);
    }
    Ok(())
}

/// Evaluates the `@next`/`@async` rules over the complete tick; returns each rule's head rows
/// (flat, head column order).
pub(crate) fn eval_temporal(
    prog: &Program,
    plan: &StratumPlan,
    db: &mut Db,
    interner: &mut Interner,
) -> Result<Vec<(RuleId, Vec<Word>)>, RuleError> {
    for spec in &plan.static_specs {
        db.ensure(spec);
    }
    let groups = db.groups(prog, plan, interner)?;
    let inters: Vec<Box<dyn Index>> = plan
        .inters
        .iter()
        .map(|&(k, v)| new_index(k, v, None, "intermediate"))
        .collect();
    let statics: Vec<&dyn Index> = plan.static_specs.iter().map(|s| &*db.indexes[s]).collect();
    let ctx = Ctx {
        dyns: &[],
        statics: &statics,
        groups: &groups,
        inters: &inters,
        merges: &HashMap::new(),
    };
    let mut out = Vec::new();
    ctx.run_plan(plan, None, &mut out, interner)?;
    Ok(out)
}

/// Whether a step reads something that changes during the iteration (run every round on the
/// new tuples) rather than only complete inputs (run once, on everything).
fn step_is_delta(step: &Step) -> bool {
    let changes = |s: &Slot| !matches!(s, Slot::Static(_));
    match &step.kind {
        StepKind::Unit => false,
        StepKind::Scan { src, .. } => changes(src),
        StepKind::Join { a, b, .. } => changes(a) || changes(b),
    }
}

struct Ctx<'a> {
    dyns: &'a [Box<dyn Index>],
    statics: &'a [&'a dyn Index],
    groups: &'a [GroupTable],
    inters: &'a [Box<dyn Index>],
    /// The merges of the stratum's lattice relations.
    merges: &'a HashMap<RelId, RefCell<Merge>>,
}

impl<'a> Ctx<'a> {
    /// Runs every rule of a plan: with an iteration, the steps over complete inputs once and
    /// the others each round until nothing changes; without, every step once, in order (each
    /// step's output is complete before the next reads it).
    fn run_plan(
        &self,
        plan: &StratumPlan,
        iteration: Option<&mut Iteration>,
        collected: &mut Vec<(RuleId, Vec<Word>)>,
        interner: &mut Interner,
    ) -> Result<(), RuleError> {
        let Some(it) = iteration else {
            for rp in &plan.rules {
                for step in &rp.steps {
                    self.run(step, rp.nregs, Mode::Full, rp.rule, collected, interner)?;
                }
            }
            return Ok(());
        };
        for rp in &plan.rules {
            for step in &rp.steps {
                if !step_is_delta(step) {
                    self.run(step, rp.nregs, Mode::Full, rp.rule, collected, interner)?;
                }
            }
        }
        while {
            self.flush_merges(plan, interner);
            it.changed()
        } {
            for rp in &plan.rules {
                for step in &rp.steps {
                    if step_is_delta(step) {
                        self.run(step, rp.nregs, Mode::Delta, rp.rule, collected, interner)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts the rows of the keys whose lattice value rose this round into their relation's
    /// indexes (each index in its column order).
    fn flush_merges(&self, plan: &StratumPlan, interner: &Interner) {
        for (&rel, m) in self.merges {
            let rows = m.borrow_mut().take_raised(interner);
            if rows.is_empty() {
                continue;
            }
            for (spec, index) in plan.dyn_specs.iter().zip(self.dyns) {
                if spec.rel != rel {
                    continue;
                }
                let arity = spec.key.len() + spec.val.len();
                let order: Vec<usize> = spec.cols().collect();
                let mut flat = Vec::with_capacity(rows.len());
                for row in rows.chunks_exact(arity) {
                    flat.extend(order.iter().map(|&c| row[c]));
                }
                index.push_flat(&flat);
                index.flush();
            }
        }
    }

    fn slot(&self, s: Slot) -> &'a dyn Index {
        match s {
            Slot::Dyn(i) => &*self.dyns[i],
            Slot::Static(i) => self.statics[i],
            Slot::Inter(i) => &*self.inters[i],
        }
    }

    fn run(
        &self,
        step: &Step,
        nregs: usize,
        mode: Mode,
        rule: RuleId,
        collected: &mut Vec<(RuleId, Vec<Word>)>,
        interner: &mut Interner,
    ) -> Result<(), RuleError> {
        let empty: &[usize] = &[];
        let dests: Vec<Option<&dyn Index>> = match &step.dest {
            Dest::Head(_, slots) => slots.iter().map(|&s| Some(&*self.dyns[s])).collect(),
            Dest::Inter(i) => vec![Some(&*self.inters[*i])],
            Dest::Collect => vec![None; step.sink.perms.len()],
        };
        let flush = |dests: &[Option<&dyn Index>]| {
            for d in dests.iter().flatten() {
                d.flush();
            }
        };
        let merge = match &step.dest {
            Dest::Head(rel, _) => self.merges.get(rel),
            _ => None,
        };
        let new = |maps, interner| {
            let e = Emitter::new(
                nregs,
                maps,
                (&step.ops, &step.spans),
                (self.statics, self.groups),
                interner,
                &step.sink,
                dests.clone(),
            );
            match merge {
                Some(m) => e.with_merge(m),
                None => e,
            }
        };
        let out = match &step.kind {
            StepKind::Unit => {
                let mut e = new((empty, empty, empty), interner);
                e.run();
                finish(e, rule)?
            }
            StepKind::Scan { src, map } => {
                let index = self.slot(*src);
                let (kmap, amap) = map.split_at(index.key_width().min(map.len()));
                let mut e = new((kmap, amap, empty), interner);
                index.scan(mode, &mut e);
                finish(e, rule)?
            }
            StepKind::Join {
                a,
                b,
                kmap,
                amap,
                bmap,
            } => {
                let mut e = new((kmap, amap, bmap), interner);
                let (ia, ib) = (self.slot(*a), self.slot(*b));
                // Drive the join from the side that changes, so a fixed side is only read.
                if matches!(a, Slot::Static(_)) && !matches!(b, Slot::Static(_)) {
                    ib.join(ia, mode, true, &mut e);
                } else {
                    ia.join(ib, mode, false, &mut e);
                }
                finish(e, rule)?
            }
        };
        flush(&dests);
        if let Dest::Collect = step.dest {
            for buf in out {
                if !buf.is_empty() {
                    collected.push((rule, buf));
                }
            }
        }
        Ok(())
    }
}

fn finish(mut e: Emitter<'_>, rule: RuleId) -> Result<Vec<Vec<Word>>, RuleError> {
    e.drain();
    match e.error {
        Some(message) => Err(RuleError {
            rule,
            message,
            span: e.error_span,
        }),
        None => Ok(e.out),
    }
}
