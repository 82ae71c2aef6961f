//! Incremental ticks: the state of a node lives across ticks, and a tick only does work for
//! what changed.
//!
//! Every relation is a [`Table`] (a hash set of rows with hash indexes) that stays built from one
//! tick to the next. A relation's *input* — facts given to the engine, facts carried from the
//! previous tick (`.persist`, `@next`, `@async` to this node), facts that arrived this tick,
//! and the built-ins — is kept per row as a set of source bits, so the change of a tick's input
//! is known row by row. Each stratum, in order, turns the changes of what it reads into the
//! changes of what it holds, by DRed (delete and re-derive):
//!
//! 1. *over-delete*: every derivation that held before the tick and used a removed row (or a
//!    row now present under a negation, or any changed row under an aggregate) is searched in
//!    the tables as they were before the tick; the heads it finds are candidates, and in a
//!    recursive stratum they are followed through the stratum's own rules;
//! 2. the candidates are removed;
//! 3. *re-derive*: a candidate that is still an input, or that some rule still derives from
//!    the tables as they are now (a search with the head's variables bound), goes back in;
//! 4. *insert*: every derivation that uses an added row (or a row gone from under a negation,
//!    or a changed aggregate) is searched in the tables as they are now, and new heads are
//!    added and followed through the stratum's own rules (semi-naive).
//!
//! The `@next`/`@async` rules are one more stratum whose heads are the facts carried to the
//! next tick and those sent to other nodes; the change of the former is the change of the next
//! tick's input, the rows added to the latter are what the tick sends. A search is seeded by
//! one changed row, so a tick costs what the changed rows join with, not the size of the state.
//!
//! A rule that fails at run time (division by zero, overflow) undoes the tick: every change
//! made to the tables and inputs is journalled and rolled back.

mod rules;
mod table;

use crate::index::Word;
use crate::merge::Order;
use crate::value::Interner;
use calm_ir::{Builtin, RelId, RuleId, Time};
use rules::{Reader, Rule, Search, Seed, SeedKind, View, Wants};
use std::collections::BTreeMap;
pub(crate) use table::Row;
pub(crate) use table::table_bytes;
use table::{Delta, Map, Set, Table};

/// Indexes that reads (not rules) may add to one relation.
pub(crate) const MAX_READ_INDEXES: usize = 4;

/// A row's input sources.
const GIVEN: u8 = 1;
const CARRIED: u8 = 2;
const PERSISTED: u8 = 4;
const ARRIVED: u8 = 8;
const BUILTIN: u8 = 16;
const INSERTED: u8 = 32;
const SOURCES: u8 = GIVEN | CARRIED | PERSISTED | ARRIVED | BUILTIN | INSERTED;
/// The row was an input when the last tick was evaluated.
const EVALUATED: u8 = 128;

/// An index's key columns, number of keys and largest bucket.
pub(crate) type IndexShape = (Vec<usize>, usize, usize);

/// A runtime failure inside a rule, as the engine reports it.
pub(crate) struct RuleFailure {
    pub rule: RuleId,
    pub message: &'static str,
    pub span: Option<calm_syntax::Span>,
}

/// Why an incremental tick did not complete (it is undone either way).
pub(crate) enum TickError {
    /// A rule failed at run time.
    Rule(RuleFailure),
    /// What a lattice stratum reads shrank (a row gone that no larger value of its key
    /// replaces): its values may have to go down, which merges cannot do. The tick must be
    /// evaluated in full.
    Full,
}

impl From<RuleFailure> for TickError {
    fn from(f: RuleFailure) -> TickError {
        TickError::Rule(f)
    }
}

struct Stratum {
    /// The tables it computes.
    tables: Vec<usize>,
    rules: Vec<RuleId>,
    recursive: bool,
    /// Whether one of its relations has a lattice column.
    lattice: bool,
}

/// An input-bit change to undo (table changes are undone from the tick's deltas).
struct Undo(RelId, Row, u8);

/// What the full evaluation of a tick leaves behind to start incremental ticks from.
pub(crate) struct FullTick {
    /// Every relation's rows after the tick, in column order.
    pub relations: Vec<Vec<Row>>,
    /// Given facts that hold at every tick (relations without state over time).
    pub given: Vec<Vec<Row>>,
    /// Facts that were input for that tick only (carried in, arrived).
    pub once: Vec<Vec<Row>>,
    /// The temporal rules' head rows: rule and row.
    pub produced: Vec<(RuleId, Row)>,
}

/// What an incremental tick produced.
pub(crate) struct Ticked {
    /// Rows newly addressed to other nodes: relation and row.
    pub sent: Vec<(RelId, Row)>,
    /// Whether the facts carried into the next tick equal those carried into this one.
    pub carry_same: bool,
}

/// The state of an engine between incremental ticks.
pub(crate) struct Incr {
    nrel: usize,
    /// Compiled rules, by rule id (`None` for none).
    rules: Vec<Option<Rule>>,
    strata: Vec<Stratum>,
    temporal: Stratum,
    /// Tables: `0..nrel` the relations, `nrel..2 nrel` what each carries to the next tick (its
    /// `@next` and own `@async` heads), `2 nrel..3 nrel` what it sends to other nodes.
    tables: Vec<Table>,
    deltas: Vec<Delta>,
    /// Rows whose input bits changed since the last evaluation.
    touched: Vec<Set>,
    /// Rows that were input for the last tick only.
    arrived: Vec<(RelId, Row)>,
    /// Facts inserted into relations with state, for the next tick only.
    pending: Vec<(RelId, Row)>,
    persist: Vec<bool>,
    /// The location column of each relation that is sent with `@async`.
    location: Vec<Option<usize>>,
    times: Vec<Time>,
    self_id: Word,
    journal: Vec<Undo>,
    /// Per relation, how many indexes reads have added.
    read_indexes: Vec<usize>,
    /// Per relation with a lattice column: the lattice and the index on its key columns (none
    /// for a relation of one column: it holds at most one row).
    lattices: Vec<Option<(Order, Option<usize>)>>,
    /// Per rule, whether it reads a lattice value other than monotonically.
    raw: Vec<bool>,
}

fn stratum_of(prog: &calm_ir::Program, s: &calm_ir::Stratum) -> Stratum {
    Stratum {
        tables: s.relations.clone(),
        rules: s.rules.clone(),
        recursive: s.recursive,
        lattice: s
            .relations
            .iter()
            .any(|&r| prog.relations[r].lattice.is_some()),
    }
}

impl Incr {
    /// Builds the state after a fully evaluated tick.
    pub fn build(
        prog: &calm_ir::Program,
        full: FullTick,
        self_id: Word,
        builtins: &[(RelId, Row)],
        it: &mut Interner,
    ) -> Incr {
        let nrel = prog.relations.len();
        let mut wants: Wants = Vec::new();
        let mut rules: Vec<Option<Rule>> = Vec::with_capacity(prog.rules.len());
        for r in 0..prog.rules.len() {
            rules.push(Some(Rule::compile(prog, r, it, &mut wants)));
        }
        let mut tables: Vec<Table> = (0..3 * nrel)
            .map(|t| Table::new(prog.relations[t % nrel].arity))
            .collect();
        for (rel, rows) in full.relations.into_iter().enumerate() {
            let t = &mut tables[rel];
            t.reserve(rows.len());
            for row in rows {
                t.insert(&row);
            }
        }
        let pos: Vec<usize> = wants
            .iter()
            .map(|(rel, cols)| tables[*rel].ensure_index(cols))
            .collect();
        let lattices: Vec<Option<(Order, Option<usize>)>> = prog
            .relations
            .iter()
            .enumerate()
            .map(|(rel, info)| {
                let order = Order::new(info.lattice?, &info.types);
                let key: Vec<usize> = (0..info.arity.saturating_sub(order.width())).collect();
                let ix = (!key.is_empty()).then(|| tables[rel].ensure_index(&key));
                Some((order, ix))
            })
            .collect();
        for r in rules.iter_mut().flatten() {
            r.resolve(&pos);
        }
        let mut location = vec![None; nrel];
        let mut times = Vec::with_capacity(prog.rules.len());
        for r in &prog.rules {
            if let Time::Async { location: l } = r.time {
                location[r.head] = Some(l);
            }
            times.push(r.time);
        }
        let persist: Vec<bool> = prog.relations.iter().map(|r| r.persist).collect();
        let mut inc = Incr {
            nrel,
            rules,
            strata: prog.strata.iter().map(|s| stratum_of(prog, s)).collect(),
            temporal: Stratum {
                tables: Vec::new(),
                rules: prog.temporal_rules.clone(),
                recursive: false,
                lattice: false,
            },
            tables,
            deltas: (0..3 * nrel).map(|_| Delta::default()).collect(),
            touched: (0..nrel).map(|_| Set::default()).collect(),
            arrived: Vec::new(),
            pending: Vec::new(),
            persist,
            location,
            times,
            self_id,
            journal: Vec::new(),
            read_indexes: vec![0; nrel],
            lattices,
            raw: prog.rules.iter().map(|r| !r.raw_reads.is_empty()).collect(),
        };
        // What the tick's input was.
        for (rel, rows) in full.given.into_iter().enumerate() {
            for row in rows {
                inc.or_input(rel, &row, GIVEN | EVALUATED);
            }
        }
        for &(rel, ref row) in builtins {
            inc.or_input(rel, row, BUILTIN | EVALUATED);
        }
        for (rel, rows) in full.once.into_iter().enumerate() {
            for row in rows {
                inc.or_input(rel, &row, ARRIVED | EVALUATED);
                inc.arrived.push((rel, row));
            }
        }
        // What it carries into the next.
        for (rule, row) in full.produced {
            let tid = inc.route(rule, &row);
            if inc.carried_table(tid) {
                inc.set_bits(tid - nrel, &row, CARRIED, true, false);
            } else {
                inc.tables[tid].insert(&row);
            }
        }
        for rel in 0..nrel {
            if inc.persist[rel] {
                let rows: Vec<Row> = inc.tables[rel].iter().map(Row::from).collect();
                for row in rows {
                    inc.set_bits(rel, &row, PERSISTED, true, false);
                }
            }
        }
        inc
    }

    /// The table a temporal rule's head row goes to.
    fn route(&self, rule: RuleId, row: &[Word]) -> usize {
        let head = self.rules[rule].as_ref().expect("compiled").head;
        match self.times[rule] {
            Time::Async { location } if row[location] != self.self_id => 2 * self.nrel + head,
            Time::Now => head,
            _ => self.nrel + head,
        }
    }

    /// Adds input bits to a row, as the state a tick starts from (no journal, not touched).
    fn or_input(&mut self, rel: RelId, row: &[Word], bits: u8) {
        self.tables[rel].update_input(row, |was| was | bits);
    }

    fn set_bits(&mut self, rel: RelId, row: &Row, bit: u8, on: bool, journal: bool) {
        if on {
            self.change_bits(rel, row, bit, 0, journal);
        } else {
            self.change_bits(rel, row, 0, bit, journal);
        }
    }

    /// Sets the input bits `on` and clears `off` of a row; its bits before and after.
    fn change_bits(&mut self, rel: RelId, row: &Row, on: u8, off: u8, journal: bool) -> (u8, u8) {
        let was = self.tables[rel].update_input(row, |was| (was | on) & !off);
        let now = (was | on) & !off;
        if now == was {
            return (was, now);
        }
        if journal {
            self.journal.push(Undo(rel, row.clone(), was));
        }
        if (now & SOURCES != 0) != (was & SOURCES != 0)
            || (now & SOURCES != 0) != (now & EVALUATED != 0)
        {
            self.touched[rel].insert(row.clone());
        }
        (was, now)
    }

    /// Adds given facts that hold at every tick from now on.
    pub fn give(&mut self, rel: RelId, rows: Vec<Row>) {
        for row in rows {
            self.set_bits(rel, &row, GIVEN, true, false);
        }
    }

    /// Adds facts to a relation with state over time: they are its input at the next tick.
    pub fn insert_state(&mut self, rel: RelId, rows: Vec<Row>) {
        self.pending.extend(rows.into_iter().map(|r| (rel, r)));
    }

    /// The facts carried into the next tick, per relation.
    pub fn carry(&self) -> Vec<Vec<Row>> {
        let mut out: Vec<Vec<Row>> = vec![Vec::new(); self.nrel];
        for (rel, rows) in out.iter_mut().enumerate() {
            for (row, bits) in self.tables[rel].inputs() {
                if bits & (CARRIED | PERSISTED) != 0 {
                    rows.push(Row::from(row));
                }
            }
        }
        for (rel, row) in &self.pending {
            out[*rel].push(row.clone());
        }
        for rows in &mut out {
            rows.sort_unstable();
            rows.dedup();
        }
        out
    }

    /// The rows of a relation (unordered).
    pub fn rows(&self, rel: RelId) -> impl Iterator<Item = &[Word]> {
        self.tables[rel].iter()
    }

    pub fn len(&self, rel: RelId) -> usize {
        self.tables[rel].len()
    }

    /// Calls `f` with the rows whose columns `cols` equal `key`, through an index if one of
    /// the relation's indexes is keyed by some of those columns.
    pub fn rows_where(&self, rel: RelId, filter: &[(usize, Word)], f: &mut dyn FnMut(&[Word])) {
        let t = &self.tables[rel];
        let best = t
            .indexes
            .iter()
            .enumerate()
            .filter(|(_, ix)| ix.cols.iter().all(|c| filter.iter().any(|f| f.0 == *c)))
            .max_by_key(|(_, ix)| ix.cols.len());
        let ok = |row: &[Word]| filter.iter().all(|&(c, w)| row[c] == w);
        match best {
            Some((i, ix)) => {
                let key: Vec<Word> = ix
                    .cols
                    .iter()
                    .map(|c| filter.iter().find(|f| f.0 == *c).expect("covered").1)
                    .collect();
                for row in t.lookup(i, &key) {
                    if ok(row) {
                        f(row);
                    }
                }
            }
            None => {
                for row in t.iter() {
                    if ok(row) {
                        f(row);
                    }
                }
            }
        }
    }

    /// Makes lookups of `rel` by the columns `cols` use an index from now on, unless reads have
    /// already asked for [`MAX_READ_INDEXES`] indexes of it (every index costs memory and time
    /// at every change, and readers choose the columns): then reads use the best index there is.
    pub fn ensure_index(&mut self, rel: RelId, cols: &[usize]) {
        let t = &mut self.tables[rel];
        if t.indexes.iter().any(|ix| ix.cols == cols) {
            return;
        }
        let asked = &mut self.read_indexes[rel];
        if *asked >= MAX_READ_INDEXES {
            return;
        }
        *asked += 1;
        t.ensure_index(cols);
    }

    /// The rows now addressed to other nodes: per (relation, destination word), how many.
    pub fn away_counts(&self) -> BTreeMap<(RelId, Word), usize> {
        let mut out = BTreeMap::new();
        for rel in 0..self.nrel {
            let Some(l) = self.location[rel] else {
                continue;
            };
            for row in self.tables[2 * self.nrel + rel].iter() {
                *out.entry((rel, row[l])).or_default() += 1;
            }
        }
        out
    }

    /// Per table (relation, carried, sent): rows, indexes, input rows.
    pub fn stats(&self) -> Vec<(usize, usize, usize, usize)> {
        (0..self.tables.len())
            .map(|t| {
                let inputs = self.tables[t].inputs().count();
                let rows = if self.carried_table(t) {
                    let rel = t - self.nrel;
                    self.tables[rel]
                        .inputs()
                        .filter(|&(_, b)| b & CARRIED != 0)
                        .count()
                } else {
                    self.tables[t].len()
                };
                (t, rows, self.tables[t].indexes.len(), inputs)
            })
            .collect()
    }

    /// Per table (relation, carried, sent): bytes of its row store, its set of row ids and its
    /// indexes.
    pub fn bytes(&self) -> Vec<(usize, usize, usize)> {
        self.tables.iter().map(Table::bytes).collect()
    }

    /// Per table, its indexes: key columns, keys, largest bucket.
    pub fn index_shapes(&self) -> Vec<(usize, Vec<IndexShape>)> {
        (0..self.tables.len())
            .filter(|&t| !self.tables[t].indexes.is_empty())
            .map(|t| {
                let ixs = self.tables[t]
                    .indexes
                    .iter()
                    .map(|ix| {
                        let (k, m) = ix.shape();
                        (ix.cols.clone(), k, m)
                    })
                    .collect();
                (t, ixs)
            })
            .collect()
    }

    /// The change of a relation at the last tick: rows added and rows removed.
    pub fn changes(&self, rel: RelId) -> (&Set, &Set) {
        let d = &self.deltas[rel];
        (&d.plus, &d.minus)
    }

    /// Runs one tick with `arrivals` (facts that hold for this tick only).
    pub fn tick(
        &mut self,
        arrivals: Vec<(RelId, Row)>,
        it: &mut Interner,
    ) -> Result<Ticked, TickError> {
        self.journal.clear();
        for d in &mut self.deltas {
            d.clear();
        }
        let saved_arrived = self.arrived.clone();
        let saved_pending = self.pending.clone();
        let saved_touched: Vec<(usize, Set)> = self
            .touched
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(rel, t)| (rel, t.clone()))
            .collect();
        match self.tick_inner(arrivals, it) {
            Ok(t) => Ok(t),
            Err(e) => {
                // Undo everything the tick changed: the tables by their deltas (each is the
                // net change of its table), the input bits by the journal.
                let nrel = self.nrel;
                for (t, (table, d)) in self.tables.iter_mut().zip(&mut self.deltas).enumerate() {
                    if (nrel..2 * nrel).contains(&t) {
                        // What is carried lives in the input bits (undone by the journal).
                        d.clear();
                        continue;
                    }
                    for row in &d.plus {
                        table.remove(row);
                    }
                    for row in &d.minus {
                        table.insert(row);
                    }
                    d.clear();
                }
                while let Some(Undo(rel, row, bits)) = self.journal.pop() {
                    self.tables[rel].set_input(&row, bits);
                }
                self.arrived = saved_arrived;
                self.pending = saved_pending;
                for t in &mut self.touched {
                    t.clear();
                }
                for (rel, t) in saved_touched {
                    self.touched[rel] = t;
                }
                Err(e)
            }
        }
    }

    fn tick_inner(
        &mut self,
        arrivals: Vec<(RelId, Row)>,
        it: &mut Interner,
    ) -> Result<Ticked, TickError> {
        let nrel = self.nrel;
        // This tick's input: last tick's one-tick facts go, this tick's come.
        for (rel, row) in std::mem::take(&mut self.arrived) {
            self.set_bits(rel, &row, ARRIVED | INSERTED, false, true);
        }
        let inserted = std::mem::take(&mut self.pending);
        for (rel, row) in &inserted {
            self.set_bits(*rel, row, INSERTED, true, true);
        }
        for (rel, row) in arrivals {
            self.set_bits(rel, &row, ARRIVED, true, true);
            self.arrived.push((rel, row));
        }
        self.arrived.extend(inserted.iter().cloned());
        let mut in_plus: Vec<Vec<Row>> = vec![Vec::new(); nrel];
        let mut in_minus: Vec<Vec<Row>> = vec![Vec::new(); nrel];
        for rel in 0..nrel {
            if self.touched[rel].is_empty() {
                continue;
            }
            let touched = std::mem::take(&mut self.touched[rel]);
            for row in touched {
                // An input now that was not evaluated as one, or the other way around.
                let flip = |bits: u8| match (bits & SOURCES != 0, bits & EVALUATED != 0) {
                    (true, false) => bits | EVALUATED,
                    (false, true) => 0,
                    _ => bits,
                };
                let bits = self.tables[rel].update_input(&row, flip);
                if flip(bits) != bits {
                    self.journal.push(Undo(rel, row.clone(), bits));
                    if bits & SOURCES != 0 {
                        in_plus[rel].push(row);
                    } else {
                        in_minus[rel].push(row);
                    }
                }
            }
        }
        for s in 0..self.strata.len() {
            let tables = self.strata[s].tables.clone();
            let changed = tables
                .iter()
                .any(|&t| !in_plus[t].is_empty() || !in_minus[t].is_empty())
                || self.strata[s].rules.iter().any(|&r| self.reads_change(r));
            if changed && self.strata[s].lattice {
                self.lattice_stratum(s, &in_plus, &in_minus, it)?;
            } else if changed {
                self.stratum(s, &in_plus, &in_minus, it)?;
            }
            for t in tables {
                let (table, delta) = (&self.tables[t], &mut self.deltas[t]);
                delta.seal(table);
            }
        }
        let temporal_changed = self.temporal.rules.iter().any(|&r| self.reads_change(r));
        if temporal_changed {
            self.stratum(usize::MAX, &in_plus, &in_minus, it)?;
        }
        // The next tick's carry.
        let mut carry_same = true;
        // Per row, the input bits it gains and loses (a persisted relation's row may change
        // both CARRIED and PERSISTED).
        let mut flips: Vec<(RelId, Row, u8, u8)> = Vec::new();
        for rel in 0..nrel {
            let c = &self.deltas[nrel + rel];
            let own = &self.deltas[rel];
            let persist = self.persist[rel];
            let p_bits = |row: &Row| -> (u8, u8) {
                if !persist {
                    (0, 0)
                } else if own.plus.contains(row) {
                    (PERSISTED, 0)
                } else if own.minus.contains(row) {
                    (0, PERSISTED)
                } else {
                    (0, 0)
                }
            };
            for (set, on, off) in [(&c.plus, CARRIED, 0), (&c.minus, 0, CARRIED)] {
                for row in set {
                    let (pon, poff) = p_bits(row);
                    flips.push((rel, row.clone(), on | pon, off | poff));
                }
            }
            if persist {
                for (set, on, off) in [(&own.plus, PERSISTED, 0), (&own.minus, 0, PERSISTED)] {
                    for row in set {
                        if !c.plus.contains(row) && !c.minus.contains(row) {
                            flips.push((rel, row.clone(), on, off));
                        }
                    }
                }
            }
        }
        for (rel, row, on, off) in flips {
            // Whether the row was carried into this tick, and is carried into the next.
            let (was, now) = self.change_bits(rel, &row, on, off, true);
            if (was & (CARRIED | PERSISTED | INSERTED) != 0) != (now & (CARRIED | PERSISTED) != 0) {
                carry_same = false;
            }
        }
        for (rel, row) in &inserted {
            let bits = self.tables[*rel].input(row);
            if bits & (CARRIED | PERSISTED) == 0 {
                carry_same = false;
            }
        }
        let mut sent = Vec::new();
        for rel in 0..nrel {
            for row in &self.deltas[2 * nrel + rel].plus {
                sent.push((rel, row.clone()));
            }
        }
        Ok(Ticked { sent, carry_same })
    }

    /// Whether a relation that rule `r` reads changed at this tick (so far).
    fn reads_change(&self, r: RuleId) -> bool {
        let rule = self.rules[r].as_ref().expect("compiled");
        rule.seeds.iter().any(|s| !self.deltas[s.rel].is_empty())
    }

    fn insert(&mut self, t: usize, row: &Row) -> bool {
        if self.carried_table(t) {
            if self.has(t, row) {
                return false;
            }
        } else if !self.tables[t].insert(row) {
            return false;
        }
        self.deltas[t].added(row);
        true
    }

    fn remove(&mut self, t: usize, row: &Row) -> bool {
        if self.carried_table(t) {
            if !self.has(t, row) {
                return false;
            }
        } else if !self.tables[t].remove(row) {
            return false;
        }
        self.deltas[t].removed(row);
        true
    }

    /// Whether table `t` is what a relation carries to the next tick. Those rows are not kept
    /// in a table of their own: they are the rows of the relation's input with the carried
    /// bit (set at the end of the tick that derived them), changed by this tick's delta.
    fn carried_table(&self, t: usize) -> bool {
        (self.nrel..2 * self.nrel).contains(&t)
    }

    /// Whether table `t` holds `row` now.
    fn has(&self, t: usize, row: &[Word]) -> bool {
        if !self.carried_table(t) {
            return self.tables[t].contains(row);
        }
        let d = &self.deltas[t];
        if d.plus.contains(row) {
            return true;
        }
        if d.minus.contains(row) {
            return false;
        }
        self.tables[t - self.nrel].input(row) & CARRIED != 0
    }

    fn is_input(&self, t: usize, row: &[Word]) -> bool {
        t < self.nrel && self.tables[t].input(row) & SOURCES != 0
    }

    /// Searches rule `r` from seed `seed` (index into its seeds, or the re-derivation when
    /// `None`) bound to `row`; calls `out` with each head row and its table until it returns
    /// false.
    fn search(
        &self,
        r: RuleId,
        seed: Option<usize>,
        row: &[Word],
        view: View,
        it: &mut Interner,
        out: &mut dyn FnMut(usize, Row) -> bool,
    ) -> Result<(), RuleFailure> {
        let rule = self.rules[r].as_ref().expect("compiled");
        let s: &Seed = match seed {
            Some(i) => &rule.seeds[i],
            None => &rule.rederive,
        };
        if s.consts.iter().any(|&(c, w)| row[c] != w)
            || s.same.iter().any(|&(a, b)| row[a] != row[b])
        {
            return Ok(());
        }
        let mut env = vec![0; rule.nvars.max(1)];
        for &(c, v) in &s.bind {
            env[v] = row[c];
        }
        let mut search = Search {
            r: Reader {
                tables: &self.tables,
                deltas: &self.deltas,
                view,
            },
            it,
        };
        let temporal = !matches!(self.times[r], Time::Now);
        let res = search.run(
            &rule.items,
            &rule.negs,
            &rule.spans,
            &s.steps,
            &mut env,
            &mut |env, it| {
                let mut head = Vec::with_capacity(rule.head_args.len());
                for e in &rule.head_args {
                    head.push(e.word(env, it).map_err(|message| rules::Fail {
                        message,
                        span: None,
                    })?);
                }
                let tid = if temporal {
                    self.route(r, &head)
                } else {
                    rule.head
                };
                Ok(out(tid, head.into()))
            },
        );
        res.map(|_| ()).map_err(|f| RuleFailure {
            rule: r,
            message: f.message,
            span: f.span,
        })
    }

    /// The changed rows of seed `i` of rule `r` that can remove derivations (`deleting`) or
    /// add them: removed rows of a positive atom, added rows of a negated one, any change
    /// under an aggregate (once per binding of the grouping columns).
    fn seed_rows(&self, r: RuleId, i: usize, deleting: bool) -> Vec<&Row> {
        let seed = &self.rules[r].as_ref().expect("compiled").seeds[i];
        let d = &self.deltas[seed.rel];
        let (fewer, more) = (&d.minus, &d.plus);
        match (seed.kind, deleting) {
            (SeedKind::Pos, true) | (SeedKind::Neg, false) => fewer.iter().collect(),
            (SeedKind::Pos, false) | (SeedKind::Neg, true) => more.iter().collect(),
            _ => distinct(d.plus.iter().chain(d.minus.iter()), &seed.bind),
        }
    }

    /// Whether some rule derives `row` into table `t` from the tables as they are now.
    fn rederives(
        &self,
        rules: &[RuleId],
        t: usize,
        row: &[Word],
        it: &mut Interner,
    ) -> Result<bool, RuleFailure> {
        let head = t % self.nrel;
        for &r in rules {
            let rule = self.rules[r].as_ref().expect("compiled");
            if rule.head != head {
                continue;
            }
            let mut found = false;
            self.search(r, None, row, View::New, it, &mut |tid, h| {
                if tid == t && *h == *row {
                    found = true;
                    return false;
                }
                true
            })?;
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The row of lattice table `t` with the key of `row`, if any.
    fn lattice_row(&self, t: usize, row: &[Word]) -> Option<Row> {
        let (order, ix) = self.lattices[t].as_ref().expect("a lattice relation");
        let table = &self.tables[t];
        match ix {
            Some(ix) => table
                .lookup(*ix, &row[..row.len() - order.width()])
                .next()
                .map(Row::from),
            None => table.iter().next().map(Row::from),
        }
    }

    /// Merges `row` (its value normalized) into lattice table `t`: whether its value is
    /// strictly above the one its key holds (or the key holds none), in which case the row
    /// replaces the key's row.
    fn merge_insert(&mut self, t: usize, row: &Row, it: &Interner) -> bool {
        let (order, _) = self.lattices[t].as_ref().expect("a lattice relation");
        let w = order.width();
        if let Some(held) = self.lattice_row(t, row) {
            if !order.above(&row[row.len() - w..], &held[held.len() - w..], it) {
                return false;
            }
            self.remove(t, &held);
        }
        self.insert(t, row)
    }

    /// Adds a derived row to table `t` (by a merge when it is a lattice table); queues it if
    /// it went in.
    fn put(&mut self, t: usize, mut h: Row, it: &Interner, queue: &mut Vec<(usize, Row)>) {
        let added = if let Some((order, _)) = &self.lattices[t] {
            let w = order.width();
            let mut value = h[h.len() - w..].to_vec();
            order.normalize(&mut value, it);
            if value[..] != h[h.len() - w..] {
                let mut row = h.to_vec();
                let n = row.len();
                row[n - w..].copy_from_slice(&value);
                h = Row::from(row);
            }
            self.merge_insert(t, &h, it)
        } else {
            self.insert(t, &h)
        };
        if added {
            queue.push((t, h));
        }
    }

    /// Whether the removal of `row` from lattice relation `rel` leaves its key at a value at
    /// least as high (so nothing read monotonically shrinks): the key's row now is above it
    /// and, when `input` (the row was an input of `rel` itself), is an input too.
    fn covered(&self, rel: RelId, row: &[Word], input: bool, it: &Interner) -> bool {
        let Some((order, _)) = &self.lattices[rel] else {
            return false;
        };
        let Some(held) = self.lattice_row(rel, row) else {
            return false;
        };
        let w = order.width();
        let mut value = row[row.len() - w..].to_vec();
        order.normalize(&mut value, it);
        order.above(&held[held.len() - w..], &value, it) && (!input || self.is_input(rel, &held))
    }

    /// Updates a stratum that computes a lattice relation. Merges only raise values, so it
    /// handles a tick whose changes make what the stratum reads only grow: rows added; a
    /// lattice row replaced by a larger one of the same key where it is read monotonically; a
    /// row gone from under a negation; anything at all when every relation of the stratum is
    /// persisted (what it held is carried in, so nothing it holds can go down). Every search starts from an added row (semi-naive, in
    /// the tables as they are now), and a derived row goes into a lattice table by a merge
    /// (replacing the key's row when it is larger: a removal and an addition in the table's
    /// delta). Consequences of a replaced row need no retraction here: every rule of the stratum
    /// reads lattice values monotonically (or from complete relations below), so whatever the
    /// smaller value derived is implied by what the larger one derives. Strata above see the
    /// replacement as a removal and an addition and follow it as usual. Any other change (a
    /// row removed, an aggregate's input changed) may lower a value: [`TickError::Full`].
    fn lattice_stratum(
        &mut self,
        s: usize,
        in_plus: &[Vec<Row>],
        in_minus: &[Vec<Row>],
        it: &mut Interner,
    ) -> Result<(), TickError> {
        let (own, rules, recursive) = {
            let st = &self.strata[s];
            (st.tables.clone(), st.rules.clone(), st.recursive)
        };
        let is_own = |rel: RelId| own.contains(&rel);
        // When every relation of the stratum is persisted, what it held is an input now: its
        // values cannot go down, whatever disappeared below.
        let kept = own.iter().all(|&t| self.persist[t]);
        let mut lower: Vec<(RuleId, usize)> = Vec::new();
        let mut inner: Vec<(RuleId, usize, RelId)> = Vec::new();
        for &r in &rules {
            let rule = self.rules[r].as_ref().expect("compiled");
            for (i, seed) in rule.seeds.iter().enumerate() {
                if is_own(seed.rel) {
                    if seed.kind == SeedKind::Pos {
                        inner.push((r, i, seed.rel));
                    }
                    continue;
                }
                let d = &self.deltas[seed.rel];
                if d.is_empty() {
                    continue;
                }
                let grows = kept
                    || match seed.kind {
                        SeedKind::Pos => d
                            .minus
                            .iter()
                            .all(|row| !self.raw[r] && self.covered(seed.rel, row, false, it)),
                        SeedKind::Neg => d.plus.is_empty(),
                        SeedKind::Agg | SeedKind::Head => false,
                    };
                if !grows {
                    return Err(TickError::Full);
                }
                lower.push((r, i));
            }
        }
        let mut queue: Vec<(usize, Row)> = Vec::new();
        for &t in &own {
            for row in &in_plus[t] {
                self.put(t, row.clone(), it, &mut queue);
            }
        }
        for &t in &own {
            // A row that stopped being an input while the key holds a larger input (a
            // persisted value that grew) changes nothing; anything else may lower a value.
            if !in_minus[t]
                .iter()
                .all(|row| !self.has(t, row) && self.covered(t, row, true, it))
            {
                return Err(TickError::Full);
            }
        }
        for &(r, i) in &lower {
            let mut found: Vec<(usize, Row)> = Vec::new();
            for row in self.seed_rows(r, i, false) {
                self.search(r, Some(i), row, View::New, it, &mut |t, h| {
                    if !self.has(t, &h) {
                        found.push((t, h));
                    }
                    true
                })?;
            }
            for (t, h) in found {
                self.put(t, h, it, &mut queue);
            }
        }
        if recursive {
            while let Some((t, row)) = queue.pop() {
                if !self.has(t, &row) {
                    // Replaced by a larger value since it was queued.
                    continue;
                }
                let mut found: Vec<(usize, Row)> = Vec::new();
                for &(r, i, rel) in &inner {
                    if rel != t {
                        continue;
                    }
                    self.search(r, Some(i), &row, View::New, it, &mut |t, h| {
                        if !self.has(t, &h) {
                            found.push((t, h));
                        }
                        true
                    })?;
                }
                for (t, h) in found {
                    self.put(t, h, it, &mut queue);
                }
            }
        }
        Ok(())
    }

    /// Updates one stratum (`usize::MAX`: the temporal rules) for the changes below it.
    fn stratum(
        &mut self,
        s: usize,
        in_plus: &[Vec<Row>],
        in_minus: &[Vec<Row>],
        it: &mut Interner,
    ) -> Result<(), RuleFailure> {
        let (own, rules, recursive): (Vec<usize>, Vec<RuleId>, bool) = if s == usize::MAX {
            (Vec::new(), self.temporal.rules.clone(), false)
        } else {
            let st = &self.strata[s];
            (st.tables.clone(), st.rules.clone(), st.recursive)
        };
        let is_own = |rel: RelId| own.contains(&rel);
        // Seeds on relations below the stratum, by how their changes act.
        let mut lower: Vec<(RuleId, usize)> = Vec::new();
        let mut inner: Vec<(RuleId, usize, RelId)> = Vec::new();
        for &r in &rules {
            let rule = self.rules[r].as_ref().expect("compiled");
            for (i, seed) in rule.seeds.iter().enumerate() {
                if is_own(seed.rel) {
                    if seed.kind == SeedKind::Pos {
                        inner.push((r, i, seed.rel));
                    }
                } else if !self.deltas[seed.rel].is_empty() {
                    lower.push((r, i));
                }
            }
        }
        // 1. Over-delete.
        let mut dead: Vec<(usize, Row)> = Vec::new();
        let mut dead_set: Map<(usize, Row), ()> = Map::default();
        for &t in &own {
            for row in &in_minus[t] {
                if self.has(t, row) && dead_set.insert((t, row.clone()), ()).is_none() {
                    dead.push((t, row.clone()));
                }
            }
        }
        for &(r, i) in &lower {
            for row in self.seed_rows(r, i, true) {
                self.search(r, Some(i), row, View::Old, it, &mut |t, h| {
                    if self.has(t, &h) && dead_set.insert((t, h.clone()), ()).is_none() {
                        dead.push((t, h));
                    }
                    true
                })?;
            }
        }
        if recursive {
            let mut k = 0;
            while k < dead.len() {
                let (t, row) = dead[k].clone();
                k += 1;
                for &(r, i, rel) in &inner {
                    if rel != t {
                        continue;
                    }
                    self.search(r, Some(i), &row, View::Old, it, &mut |t, h| {
                        if self.has(t, &h) && dead_set.insert((t, h.clone()), ()).is_none() {
                            dead.push((t, h));
                        }
                        true
                    })?;
                }
            }
        }
        let mut queue: Vec<(usize, Row)> = Vec::new();
        if recursive {
            // 2. Remove the candidates.
            for (t, row) in &dead {
                self.remove(*t, row);
            }
            // 3. Derive again what still has a derivation.
            for (t, row) in dead {
                if self.is_input(t, &row) || self.rederives(&rules, t, &row, it)? {
                    self.insert(t, &row);
                    queue.push((t, row));
                }
            }
        } else {
            // The rules read nothing of their own stratum: what the tables say now is final
            // for every candidate, so only those without a derivation go.
            for (t, row) in dead {
                if !(self.is_input(t, &row) || self.rederives(&rules, t, &row, it)?) {
                    self.remove(t, &row);
                }
            }
        }
        // 4. Insert.
        for &t in &own {
            for row in &in_plus[t] {
                if self.insert(t, row) {
                    queue.push((t, row.clone()));
                }
            }
        }
        for &(r, i) in &lower {
            let mut found: Vec<(usize, Row)> = Vec::new();
            for row in self.seed_rows(r, i, false) {
                self.search(r, Some(i), row, View::New, it, &mut |t, h| {
                    if !self.has(t, &h) {
                        found.push((t, h));
                    }
                    true
                })?;
            }
            for (t, h) in found {
                if self.insert(t, &h) {
                    queue.push((t, h));
                }
            }
        }
        if recursive {
            while let Some((t, row)) = queue.pop() {
                let mut found: Vec<(usize, Row)> = Vec::new();
                for &(r, i, rel) in &inner {
                    if rel != t {
                        continue;
                    }
                    self.search(r, Some(i), &row, View::New, it, &mut |t, h| {
                        if !self.has(t, &h) {
                            found.push((t, h));
                        }
                        true
                    })?;
                }
                for (t, h) in found {
                    if self.insert(t, &h) {
                        queue.push((t, h));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The seed rows that give distinct bindings (a seed inside an aggregate binds only the
/// grouping columns, so many changed rows may start the same search).
fn distinct<'a>(rows: impl Iterator<Item = &'a Row>, bind: &[(usize, usize)]) -> Vec<&'a Row> {
    let mut seen: Set = Set::default();
    let mut out = Vec::new();
    for row in rows {
        let key: Row = bind.iter().map(|&(c, _)| row[c]).collect();
        if seen.insert(key) {
            out.push(row);
        }
    }
    out
}

/// The built-in relations' rows for a node.
pub(crate) fn builtin_rows(
    prog: &calm_ir::Program,
    self_id: Word,
    members: &[Word],
) -> Vec<(RelId, Row)> {
    let mut out = Vec::new();
    if let Some(r) = prog.builtin(Builtin::SelfName) {
        out.push((r, vec![self_id].into()));
    }
    if let Some(r) = prog.builtin(Builtin::Member) {
        for &m in members {
            out.push((r, vec![m].into()));
        }
    }
    out
}
