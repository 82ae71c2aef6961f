//! Record types and algebraic data types: their declarations (`.type P = [a: number, b: P]`,
//! `.type T = A {x: number} | B {}`), which become [`RecordType`]s indexed by
//! [`Type::Record`].

use crate::codes;
use crate::ir::*;
use crate::lower::{Lowerer, builtin_type};
use calm_syntax::Diagnostic;
use calm_syntax::ast;
use std::collections::HashMap;

/// Most fields of one record type or branch (a record's fields are stored together).
pub const MAX_FIELDS: usize = 4096;

/// Gives every record type and ADT in `defs` its id, so that types may refer to each other
/// and to themselves. Returns their names with their types; the fields are filled in by
/// [`define`] once every type name is resolved. Reports duplicate constructors.
pub(crate) fn declare(
    lw: &mut Lowerer,
    defs: &HashMap<&str, &ast::TypeDecl>,
) -> HashMap<String, Option<Type>> {
    let mut decls: Vec<&ast::TypeDecl> = defs
        .values()
        .copied()
        .filter(|d| matches!(d.def, ast::TypeDef::Record(_) | ast::TypeDef::Adt(_)))
        .collect();
    decls.sort_by_key(|d| d.span.start);
    let mut out = HashMap::new();
    let mut ctors: HashMap<&str, &ast::Ident> = HashMap::new();
    for d in decls {
        let id = lw.prog.records.len() as u32;
        let (adt, branches) = match &d.def {
            ast::TypeDef::Adt(bs) => {
                for b in bs {
                    if let Some(prev) = ctors.insert(&b.name.name, &b.name) {
                        lw.diags.push(
                            Diagnostic::error(format!(
                                "constructor `${}` is declared twice",
                                b.name.name
                            ))
                            .with_code(codes::RECORD)
                            .with_primary(lw.file, b.name.span, "declared again here")
                            .with_secondary(lw.file, prev.span, "first declared here")
                            .with_help("constructor names must be unique across all types"),
                        );
                    }
                }
                let names = bs.iter().map(|b| b.name.name.clone());
                (true, names.collect::<Vec<_>>())
            }
            _ => (false, vec![String::new()]),
        };
        lw.prog.records.push(RecordType {
            name: d.name.name.clone(),
            span: d.span,
            branches: branches
                .into_iter()
                .map(|name| RecordBranch {
                    name,
                    fields: Vec::new(),
                })
                .collect(),
            adt,
        });
        out.insert(d.name.name.clone(), Some(Type::Record(id)));
    }
    out
}

/// Fills in the fields of every record type and ADT, now that `resolved` holds every user
/// type that could be resolved.
pub(crate) fn define(lw: &mut Lowerer, program: &ast::Program, resolved: &HashMap<String, Type>) {
    for item in &program.items {
        let ast::Item::Type(d) = item else { continue };
        let Some(&Type::Record(id)) = resolved.get(&d.name.name) else {
            continue;
        };
        let branches: Vec<&[ast::Param]> = match &d.def {
            ast::TypeDef::Record(fs) => vec![fs.as_slice()],
            ast::TypeDef::Adt(bs) => bs.iter().map(|b| b.fields.as_slice()).collect(),
            // An alias of a record type.
            _ => continue,
        };
        for (bi, params) in branches.into_iter().enumerate() {
            if params.len() > MAX_FIELDS {
                lw.diags.push(
                    Diagnostic::error(format!("more than {MAX_FIELDS} fields"))
                        .with_code(codes::RECORD)
                        .with_primary(lw.file, d.span, "too many fields"),
                );
                continue;
            }
            let mut fields = Vec::with_capacity(params.len());
            for p in params {
                if let Some(prev) = fields.iter().position(|(n, _)| *n == p.name.name) {
                    lw.diags.push(
                        Diagnostic::error(format!("field `{}` is declared twice", p.name.name))
                            .with_code(codes::DUPLICATE_DECL)
                            .with_primary(lw.file, p.name.span, "declared again here")
                            .with_secondary(lw.file, params[prev].name.span, "first declared here"),
                    );
                }
                let ty = builtin_type(&p.ty.name).or_else(|| resolved.get(&p.ty.name).copied());
                match ty {
                    Some(t) => fields.push((p.name.name.clone(), t)),
                    None => {
                        let defined = program
                            .items
                            .iter()
                            .any(|it| matches!(it, ast::Item::Type(t) if t.name.name == p.ty.name));
                        if !defined {
                            lw.unknown_type(&p.ty);
                        }
                        fields.push((p.name.name.clone(), Type::Number));
                    }
                }
            }
            if let Some(b) = lw.prog.records[id as usize].branches.get_mut(bi) {
                b.fields = fields;
            }
        }
    }
}

/// Whether a record literal or a constructor has `_` among its fields (at any depth).
pub(crate) fn has_wildcard(e: &ast::Expr) -> bool {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            ast::Expr::Wildcard(_) => return true,
            ast::Expr::Record(fields, _) => stack.extend(fields),
            ast::Expr::Branch(c) => stack.extend(&c.args),
            _ => {}
        }
    }
    false
}

/// The record built by `$name(args)`, checked: the constructor exists and gets as many
/// arguments as its branch has fields.
pub(crate) fn constructor(lw: &mut Lowerer, c: &ast::Construct) -> Option<Ctor> {
    let Some(ctor) = lw.prog.constructor(&c.name.name) else {
        let mut d = Diagnostic::error(format!("unknown constructor `${}`", c.name.name))
            .with_code(codes::RECORD)
            .with_primary(
                lw.file,
                c.name.span,
                "no algebraic data type has this branch",
            );
        let known: Vec<String> = lw
            .prog
            .records
            .iter()
            .filter(|r| r.adt)
            .flat_map(|r| r.branches.iter().map(|b| format!("`${}`", b.name)))
            .take(8)
            .collect();
        if !known.is_empty() {
            d = d.with_help(format!("the constructors are {}", known.join(", ")));
        }
        lw.diags.push(d);
        return None;
    };
    let Ctor::Branch { ty, branch } = ctor else {
        return None;
    };
    let r = &lw.prog.records[ty as usize];
    let want = r.branches[branch as usize].fields.len();
    if c.args.len() != want {
        let d = Diagnostic::error(format!(
            "constructor `${}` takes {want} argument{}, found {}",
            c.name.name,
            if want == 1 { "" } else { "s" },
            c.args.len()
        ))
        .with_code(codes::RECORD)
        .with_primary(lw.file, c.span, "wrong number of arguments")
        .with_secondary(lw.file, r.span, format!("`{}` declared here", r.name));
        lw.diags.push(d);
        return None;
    }
    Some(ctor)
}
