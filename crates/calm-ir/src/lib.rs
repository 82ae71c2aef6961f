//! calm's intermediate representation: the checked program.
//!
//! [`lower`] turns a parsed [`calm_syntax::ast::Program`] into an [`ir::Program`]: relations are
//! resolved to ids and their arity checked, variables numbered, positive atoms normalised (their
//! arguments are distinct variables; constants, repeated variables and expressions become
//! filters), head-form aggregates desugared into body-form ones, types inferred, safety checked,
//! and the strata computed. Problems are reported as diagnostics, never panics.
//!
//! ```
//! use calm_syntax::{parse, FileId};
//! let text = ".input edge\npath(x, y) :- edge(x, y).\npath(x, z) :- path(x, y), edge(y, z).\n";
//! let parsed = parse(FileId(0), text);
//! let (program, diagnostics) = calm_ir::lower(&parsed.program, FileId(0));
//! assert!(diagnostics.is_empty());
//! let path = program.relation("path").unwrap();
//! assert_eq!(program.relations[path].arity, 2);
//! ```

mod aggscope;
pub mod codes;
pub mod functor;
pub mod ir;
mod lattice;
mod lower;
pub mod number;
pub mod numeric;
pub mod pattern;
pub mod record;
mod safety;
mod strata;
mod typeck;

pub use functor::arith;
pub use ir::*;
pub use lower::for_each_item_var;
pub use pattern::Pattern;

use calm_syntax::{Diagnostic, FileId, ast};

/// Checks a parsed program. The program is complete only if no diagnostic is an error.
pub fn lower(program: &ast::Program, file: FileId) -> (Program, Vec<Diagnostic>) {
    let mut lw = lower::Lowerer::new(file);
    let declared = lw.declare(program);
    lw.rules(program);
    lw.eqrel_rules();
    lw.directives(program);
    lw.finish_subsumptions();
    let lower::Lowerer {
        mut diags,
        mut prog,
        ..
    } = lw;
    let mut ok = !diags.iter().any(Diagnostic::is_error);
    let mut rules = std::mem::take(&mut prog.rules);
    for r in &mut rules {
        ok &= safety::check_rule(file, r, &mut diags);
    }
    prog.rules = rules;
    let mut declared: Vec<(RelId, usize, Type)> = declared
        .into_iter()
        .flat_map(|(rel, cols)| cols.into_iter().map(move |(c, t)| (rel, c, t)))
        .collect();
    declared.sort_unstable();
    ok &= typeck::check(file, &mut prog, &declared, &mut diags);
    if ok {
        ok &= numeric::apply(file, &mut prog, &mut diags);
    }
    lattice::classify(&mut prog);
    if ok {
        strata::stratify(file, &mut prog, &mut diags);
    }
    warn_never_defined(file, &prog, &mut diags);
    (prog, diags)
}

/// Souffle's built-in functors (and aggregate names), which calm does not implement: a body atom
/// calling one of them with no relation of that name defined is an error, not an empty relation.
const SOUFFLE_FUNCTORS: &[&str] = &[
    "ord",
    "strlen",
    "substr",
    "cat",
    "to_number",
    "to_string",
    "to_float",
    "to_unsigned",
    "itou",
    "itof",
    "utoi",
    "utof",
    "ftoi",
    "ftou",
    "range",
    "autoinc",
    "min",
    "max",
    "mean",
    "sum",
    "count",
    "lor",
    "land",
    "lxor",
    "lnot",
    "band",
    "bor",
    "bxor",
    "bnot",
    "bshl",
    "bshr",
    "bshru",
];

fn warn_never_defined(file: FileId, prog: &Program, diags: &mut Vec<Diagnostic>) {
    let mut defined = vec![false; prog.relations.len()];
    for r in &prog.rules {
        defined[r.head] |= !r.compiler_made;
    }
    for f in &prog.facts {
        defined[f.rel] = true;
    }
    let mut warned = vec![false; prog.relations.len()];
    for r in &prog.rules {
        for (rel, _, span) in r.body_relations() {
            let info = &prog.relations[rel];
            if !defined[rel] && info.inputs.is_empty() && info.builtin.is_none() && !warned[rel] {
                warned[rel] = true;
                if !info.declared && SOUFFLE_FUNCTORS.contains(&info.name.as_str()) {
                    diags.push(
                        Diagnostic::error(format!(
                            "`{}` is a Souffle built-in functor, which calm does not implement",
                            info.name
                        ))
                        .with_code(codes::BUILTIN_MISUSE)
                        .with_primary(file, span, "not a relation")
                        .with_help(
                            "calm implements the functors `cat`, `strlen`, `substr`, `to_number`, \
                             `to_string`, `to_float`, `to_unsigned`, `min`, `max` (called in expressions, as in \
                             `n = strlen(s)`), and the predicates `match` and `contains`",
                        ),
                    );
                    continue;
                }
                diags.push(
                    Diagnostic::warning(format!(
                        "relation `{}` is never defined: it is always empty",
                        info.name
                    ))
                    .with_code(codes::NEVER_DEFINED)
                    .with_primary(file, span, "read here")
                    .with_help(
                        "add facts or rules for it, or mark it `.input` to read it from a file",
                    ),
                );
            }
        }
    }
}
