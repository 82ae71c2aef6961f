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

pub mod codes;
pub mod ir;
mod lower;
mod safety;
mod strata;
mod typeck;

pub use ir::*;
pub use lower::{arith, for_each_item_var};

use calm_syntax::{Diagnostic, FileId, ast};

/// Checks a parsed program. The program is complete only if no diagnostic is an error.
pub fn lower(program: &ast::Program, file: FileId) -> (Program, Vec<Diagnostic>) {
    let mut lw = lower::Lowerer::new(file);
    let declared = lw.declare(program);
    lw.rules(program);
    lw.directives(program);
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
        strata::stratify(file, &mut prog, &mut diags);
    }
    warn_never_defined(file, &prog, &mut diags);
    (prog, diags)
}

fn warn_never_defined(file: FileId, prog: &Program, diags: &mut Vec<Diagnostic>) {
    let mut defined = vec![false; prog.relations.len()];
    for r in &prog.rules {
        defined[r.head] = true;
    }
    for f in &prog.facts {
        defined[f.rel] = true;
    }
    let mut warned = vec![false; prog.relations.len()];
    for r in &prog.rules {
        for (rel, _, span) in r.body_relations() {
            let info = &prog.relations[rel];
            if !defined[rel] && info.input.is_none() && info.builtin.is_none() && !warned[rel] {
                warned[rel] = true;
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
