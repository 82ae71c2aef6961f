//! Lowering the AST to the IR: resolve relations, check arity, number variables, normalise atoms.

use crate::codes;
use crate::ir::*;
use calm_syntax::ast::{self, AggFunc, CmpOp};
use calm_syntax::{Diagnostic, FileId, Span};
use std::collections::{BTreeMap, HashMap, HashSet};

mod subsume;

pub(crate) struct Lowerer {
    pub file: FileId,
    pub diags: Vec<Diagnostic>,
    pub prog: Program,
    /// Where each relation's arity was fixed (a decl or first use).
    arity_origin: Vec<Span>,
    aux_count: usize,
    /// Relations with subsumption clauses (see `subsume`).
    subsumed: Vec<subsume::Subsumed>,
    /// The built-in type each user type stands for (for `as` casts).
    types: HashMap<String, Type>,
}

impl Lowerer {
    pub fn new(file: FileId) -> Self {
        Lowerer {
            file,
            diags: Vec::new(),
            prog: Program::default(),
            arity_origin: Vec::new(),
            aux_count: 0,
            subsumed: Vec::new(),
            types: HashMap::new(),
        }
    }

    fn error(&mut self, code: &str, span: Span, msg: impl Into<String>, label: impl Into<String>) {
        self.diags.push(
            Diagnostic::error(msg)
                .with_code(code)
                .with_primary(self.file, span, label),
        );
    }

    fn add_relation(&mut self, name: &str, arity: usize, span: Span) -> RelId {
        let id = self.prog.relations.len();
        self.prog.relations.push(Relation {
            name: name.to_string(),
            arity,
            types: vec![Type::Number; arity],
            columns: (0..arity).map(|i| format!("c{i}")).collect(),
            span,
            declared: false,
            inputs: Vec::new(),
            outputs: Vec::new(),
            printsize: false,
            persist: false,
            builtin: None,
            eqrel: false,
            edb: true,
            lattice: None,
        });
        self.prog.by_name.insert(name.to_string(), id);
        self.arity_origin.push(span);
        id
    }

    /// Resolves the user-defined types (`.type`) to the built-in type each one stands for:
    /// a subtype or an alias is its base type, a union the one type all its members share.
    /// Returns the type of every well-defined user type; reports duplicates, unknown names,
    /// cycles and unions that mix numbers and symbols.
    fn user_types(&mut self, program: &ast::Program) -> HashMap<String, Type> {
        let mut defs: HashMap<&str, &ast::TypeDecl> = HashMap::new();
        for item in &program.items {
            let ast::Item::Type(t) = item else { continue };
            if builtin_type(&t.name.name).is_some() {
                self.error(
                    codes::DUPLICATE_DECL,
                    t.name.span,
                    format!("`{}` is a built-in type", t.name.name),
                    "cannot be redefined",
                );
                continue;
            }
            if let Some(prev) = defs.get(t.name.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(format!("type `{}` is declared twice", t.name.name))
                        .with_code(codes::DUPLICATE_DECL)
                        .with_primary(self.file, t.name.span, "declared again here")
                        .with_secondary(self.file, prev.name.span, "first declared here"),
                );
                continue;
            }
            defs.insert(&t.name.name, t);
        }
        let mut resolved = crate::record::declare(self, &defs);
        let mut names: Vec<&str> = defs.keys().copied().collect();
        names.sort_by_key(|n| defs[n].span.start);
        for name in names {
            let mut visiting = Vec::new();
            self.resolve_type(name, &defs, &mut resolved, &mut visiting);
        }
        let resolved: HashMap<String, Type> = resolved
            .into_iter()
            .filter_map(|(k, v)| v.map(|t| (k, t)))
            .collect();
        crate::record::define(self, program, &resolved);
        resolved
    }

    /// The built-in type of the user type `name` (memoised in `resolved`; `None` once an error
    /// was reported for it).
    fn resolve_type(
        &mut self,
        name: &str,
        defs: &HashMap<&str, &ast::TypeDecl>,
        resolved: &mut HashMap<String, Option<Type>>,
        visiting: &mut Vec<String>,
    ) -> Option<Type> {
        if let Some(t) = resolved.get(name) {
            return *t;
        }
        let decl = defs[name];
        if visiting.iter().any(|v| v == name) {
            self.diags.push(
                Diagnostic::error(format!("type `{name}` is defined in terms of itself"))
                    .with_code(codes::UNKNOWN_TYPE)
                    .with_primary(self.file, decl.name.span, "a cycle of type definitions")
                    .with_help(format!("cycle: {} -> {name}", visiting.join(" -> "))),
            );
            resolved.insert(name.to_string(), None);
            return None;
        }
        visiting.push(name.to_string());
        let members: Vec<&ast::Ident> = match &decl.def {
            ast::TypeDef::Subtype(base) => vec![base],
            ast::TypeDef::Union(members) => members.iter().collect(),
            // Given their ids by `record::declare` before any name is resolved.
            ast::TypeDef::Record(_) | ast::TypeDef::Adt(_) => {
                visiting.pop();
                return None;
            }
        };
        let mut ty: Option<(Type, &ast::Ident)> = None;
        let mut ok = true;
        for m in members {
            let t = match builtin_type(&m.name) {
                Some(t) => Some(t),
                None if defs.contains_key(m.name.as_str()) => {
                    self.resolve_type(&m.name, defs, resolved, visiting)
                }
                None => {
                    self.unknown_type(m);
                    None
                }
            };
            let Some(t) = t else {
                ok = false;
                continue;
            };
            if let (Type::Record(_), ast::TypeDef::Subtype(_)) = (t, &decl.def) {
                self.diags.push(
                    Diagnostic::error(format!(
                        "`{name}` cannot be a subtype of the record type `{}`",
                        m.name
                    ))
                    .with_code(codes::RECORD)
                    .with_primary(self.file, decl.span, "a subtype of a record type")
                    .with_help(format!(
                        "write `.type {name} = {}` for another name of it",
                        m.name
                    )),
                );
                ok = false;
                continue;
            }
            match ty {
                Some((prev, prev_m)) if prev != t => {
                    self.diags.push(
                        Diagnostic::error(format!(
                            "union type `{name}` mixes {} and {}",
                            prev.as_str(),
                            t.as_str()
                        ))
                        .with_code(codes::TYPE_MISMATCH)
                        .with_primary(self.file, m.span, format!("a {}", t.as_str()))
                        .with_secondary(self.file, prev_m.span, format!("a {}", prev.as_str()))
                        .with_help("the members of a union must all be numbers or all symbols"),
                    );
                    ok = false;
                }
                Some(_) => {}
                None => ty = Some((t, m)),
            }
        }
        visiting.pop();
        let out = if ok { ty.map(|(t, _)| t) } else { None };
        resolved.insert(name.to_string(), out);
        out
    }

    pub(crate) fn unknown_type(&mut self, ty: &ast::Ident) {
        self.diags.push(
            Diagnostic::error(format!("unknown type `{}`", ty.name))
                .with_code(codes::UNKNOWN_TYPE)
                .with_primary(self.file, ty.span, "not a type")
                .with_help(
                    "the built-in types are `number`, `unsigned`, `float` and `symbol`; declare others with `.type Name <: symbol` or `.type Name = A | B`",
                ),
        );
    }

    /// Pass 1: declarations.
    pub fn declare(&mut self, program: &ast::Program) -> HashMap<RelId, Vec<(usize, Type)>> {
        let user_types = self.user_types(program);
        self.types.clone_from(&user_types);
        let mut declared_types = HashMap::new();
        for item in &program.items {
            let ast::Item::Decl(decl) = item else {
                continue;
            };
            let name = &decl.name.name;
            if name.starts_with('$') {
                self.error(
                    codes::BUILTIN_MISUSE,
                    decl.name.span,
                    format!("`{name}` is reserved: names starting with `$` are built-in"),
                    "cannot declare a built-in relation",
                );
                continue;
            }
            if is_predicate_name(name) {
                self.predicate_misuse(&decl.name, "cannot declare a relation of that name");
                continue;
            }
            if let Some(&prev) = self.prog.by_name.get(name) {
                let prev_span = self.prog.relations[prev].span;
                self.diags.push(
                    Diagnostic::error(format!("relation `{name}` is declared twice"))
                        .with_code(codes::DUPLICATE_DECL)
                        .with_primary(self.file, decl.name.span, "declared again here")
                        .with_secondary(self.file, prev_span, "first declared here"),
                );
                continue;
            }
            for (i, p) in decl.params.iter().enumerate() {
                if let Some(prev) = decl.params[..i].iter().find(|q| q.name.name == p.name.name) {
                    self.diags.push(
                        Diagnostic::error(format!(
                            "column `{}` of `{name}` is declared twice",
                            p.name.name
                        ))
                        .with_code(codes::DUPLICATE_DECL)
                        .with_primary(self.file, p.name.span, "declared again here")
                        .with_secondary(
                            self.file,
                            prev.name.span,
                            "first declared here",
                        ),
                    );
                }
            }
            let id = self.add_relation(name, decl.params.len(), decl.span);
            let mut types = Vec::new();
            let rel = &mut self.prog.relations[id];
            rel.declared = true;
            rel.columns = decl.params.iter().map(|p| p.name.name.clone()).collect();
            rel.eqrel = decl.qualifiers.iter().any(|q| q.name == "eqrel");
            let last = decl.params.len().saturating_sub(1);
            for (i, p) in decl.params.iter().enumerate() {
                let user = user_types.contains_key(&p.ty.name)
                    || program
                        .items
                        .iter()
                        .any(|it| matches!(it, ast::Item::Type(t) if t.name.name == p.ty.name));
                if !user && let Some(l) = Lattice::by_name(&p.ty.name) {
                    self.prog.relations[id].types[i] = Type::Number;
                    types.push((i, Type::Number));
                    let at = (last + 1).checked_sub(l.width());
                    if at != Some(i) || self.prog.relations[id].lattice.is_some() {
                        let (what, help) = if l == Lattice::Lww {
                            (
                                "is not the third column from the end",
                                "an `lww` value is three columns, the last three: the \
                                 timestamp (declared `lww`), the writer and the value",
                            )
                        } else {
                            (
                                "is not the last column",
                                "a relation has at most one lattice column, its last: the \
                                 other columns are the key it holds one merged value for",
                            )
                        };
                        self.diags.push(
                            Diagnostic::error(format!(
                                "lattice column `{}` of `{name}` {what}",
                                p.name.name
                            ))
                            .with_code(codes::LATTICE)
                            .with_primary(self.file, p.ty.span, "a lattice column here")
                            .with_help(help),
                        );
                    } else if self.prog.relations[id].eqrel {
                        self.error(
                            codes::LATTICE,
                            p.ty.span,
                            format!("`eqrel` relation `{name}` cannot have a lattice column"),
                            "a lattice column in an equivalence relation",
                        );
                    } else {
                        self.prog.relations[id].lattice = Some(l);
                    }
                    continue;
                }
                if !user && UNIMPLEMENTED_LATTICES.contains(&p.ty.name.as_str()) {
                    self.diags.push(
                        Diagnostic::error(format!(
                            "the lattice `{}` is not implemented",
                            p.ty.name
                        ))
                        .with_code(codes::LATTICE)
                        .with_primary(self.file, p.ty.span, "not implemented by calm")
                        .with_help(
                            "set-valued lattices are written one row per element: a plain \
                             relation is a grow-only set (union), and a relation keyed by `k` \
                             with a lattice column is a map of lattices; the lattices calm \
                             implements are `max`, `min`, `bool`, `counter` and `lww`",
                        ),
                    );
                    continue;
                }
                let ty = builtin_type(&p.ty.name).or_else(|| user_types.get(&p.ty.name).copied());
                match ty {
                    Some(t) => {
                        self.prog.relations[id].types[i] = t;
                        types.push((i, t));
                    }
                    // A user type whose definition was wrong is already reported.
                    None if program
                        .items
                        .iter()
                        .any(|it| matches!(it, ast::Item::Type(t) if t.name.name == p.ty.name)) => {
                    }
                    None => self.unknown_type(&p.ty),
                }
            }
            if self.prog.relations[id].lattice == Some(Lattice::Lww) {
                for p in &decl.params[decl.params.len() - 2..] {
                    let ty =
                        builtin_type(&p.ty.name).or_else(|| user_types.get(&p.ty.name).copied());
                    if matches!(ty, Some(Type::Record(_))) {
                        self.error(
                            codes::LATTICE,
                            p.ty.span,
                            format!(
                                "the writer and value of the `lww` value of `{name}` must be \
                                 numbers or symbols"
                            ),
                            "a record in an `lww` value",
                        );
                    }
                }
            }
            declared_types.insert(id, types);
        }
        declared_types
    }

    /// Resolves a relation used with `arity` arguments, creating it on first use.
    fn resolve(&mut self, name: &ast::Ident, arity: usize, is_head: bool) -> Option<RelId> {
        if let Some(b) = Builtin::by_name(&name.name) {
            if is_head {
                self.error(
                    codes::BUILTIN_MISUSE,
                    name.span,
                    format!("`{}` is built-in and cannot be derived", name.name),
                    "built-in relation in a rule head",
                );
                return None;
            }
            let id = match self.prog.builtin(b) {
                Some(id) => id,
                None => {
                    let id = self.add_relation(&name.name, 1, name.span);
                    let rel = &mut self.prog.relations[id];
                    rel.types = vec![Type::Symbol];
                    rel.columns = vec!["name".into()];
                    rel.builtin = Some(b);
                    rel.edb = false;
                    id
                }
            };
            if arity != 1 {
                self.error(
                    codes::ARITY_MISMATCH,
                    name.span,
                    format!("`{}` has 1 column, used with {arity}", name.name),
                    format!("{arity} arguments here"),
                );
                return None;
            }
            return Some(id);
        }
        if is_predicate_name(&name.name) {
            self.predicate_misuse(name, "a built-in predicate, not a relation");
            return None;
        }
        let internal = self
            .prog
            .by_name
            .get(&name.name)
            .is_some_and(|&id| self.prog.relations[id].builtin == Some(Builtin::Auxiliary));
        if name.name.starts_with('$') && !internal {
            self.diags.push(
                Diagnostic::error(format!("unknown built-in relation `{}`", name.name))
                    .with_code(codes::BUILTIN_MISUSE)
                    .with_primary(self.file, name.span, "not a built-in")
                    .with_help("the built-in relations are `$self(name)` and `$member(name)`"),
            );
            return None;
        }
        match self.prog.by_name.get(&name.name) {
            Some(&id) => {
                let rel = &self.prog.relations[id];
                if rel.arity != arity {
                    let what = if rel.declared {
                        "declared"
                    } else {
                        "first used"
                    };
                    let msg = format!(
                        "arity mismatch for `{}`: used with {arity} argument{}, {what} with {}",
                        name.name,
                        if arity == 1 { "" } else { "s" },
                        rel.arity
                    );
                    let origin = self.arity_origin[id];
                    self.diags.push(
                        Diagnostic::error(msg)
                            .with_code(codes::ARITY_MISMATCH)
                            .with_primary(
                                self.file,
                                name.span,
                                format!(
                                    "{arity} argument{} here",
                                    if arity == 1 { "" } else { "s" }
                                ),
                            )
                            .with_secondary(self.file, origin, format!("{what} here")),
                    );
                    return None;
                }
                Some(id)
            }
            None => Some(self.add_relation(&name.name, arity, name.span)),
        }
    }

    /// `match`/`contains` used as a relation name.
    fn predicate_misuse(&mut self, name: &ast::Ident, label: &str) {
        self.diags.push(
            Diagnostic::error(format!("`{}` is a built-in predicate", name.name))
                .with_code(codes::BUILTIN_MISUSE)
                .with_primary(self.file, name.span, label)
                .with_help(
                    "`match(pattern, s)` and `contains(sub, s)` can only be used (or negated) in \
                     rule bodies; choose another name for the relation",
                ),
        );
    }

    /// Checks the parameters of one directive target; `false` if one is not implemented.
    fn check_io_params(&mut self, kind: ast::DirectiveKind, t: &ast::DirectiveTarget) -> bool {
        use ast::DirectiveKind as K;
        let (keys, ios, what): (&[&str], &[&str], &str) = match kind {
            K::Input => (
                &[
                    "io",
                    "filename",
                    "delimiter",
                    "period",
                    "rfc4180",
                    "headers",
                    "compress",
                ],
                &["file", "timer"],
                "`IO` (`file` or `timer`), `filename`, `delimiter`, `rfc4180`, `headers`, \
                 `compress` and `period` (timers)",
            ),
            K::Output => (
                &[
                    "io",
                    "filename",
                    "delimiter",
                    "rfc4180",
                    "headers",
                    "compress",
                ],
                &["file", "stdout"],
                "`IO` (`file` or `stdout`), `filename`, `delimiter`, `rfc4180`, `headers` and \
                 `compress`",
            ),
            K::PrintSize | K::Persist => (&[], &[], "none"),
        };
        let kw = match kind {
            K::Input => ".input",
            K::Output => ".output",
            K::PrintSize => ".printsize",
            K::Persist => ".persist",
        };
        let mut ok = true;
        let mut seen: Vec<String> = Vec::new();
        for p in &t.params {
            let key = p.key.name.to_ascii_lowercase();
            let problem = if !keys.contains(&key.as_str()) {
                Some((
                    p.key.span,
                    format!("`{kw}` parameter `{}` is not supported", p.key.name),
                    "not implemented by calm",
                ))
            } else if seen.contains(&key) {
                Some((
                    p.key.span,
                    format!("`{kw}` parameter `{}` is given twice", p.key.name),
                    "given again here",
                ))
            } else if ["rfc4180", "headers", "compress"].contains(&key.as_str())
                && p.value != "true"
                && p.value != "false"
            {
                Some((
                    p.value_span,
                    format!("`{kw}`: `{}` must be `true` or `false`", p.key.name),
                    "not a boolean",
                ))
            } else if key == "io" && !ios.contains(&p.value.as_str()) {
                Some((
                    p.value_span,
                    format!("`{kw}`: `IO={}` is not supported", p.value),
                    "not implemented by calm",
                ))
            } else {
                None
            };
            seen.push(key);
            if let Some((span, msg, label)) = problem {
                ok = false;
                self.diags.push(
                    Diagnostic::error(msg)
                        .with_code(codes::IO_PARAM)
                        .with_primary(self.file, span, label)
                        .with_help(format!(
                            "the parameters of `{kw}` calm implements are {what}"
                        )),
                );
            }
        }
        ok
    }

    /// Adds an `.input`/`.output`/`.printsize`/`.persist` to relation `id`.
    fn apply_directive(&mut self, id: RelId, kind: ast::DirectiveKind, spec: IoSpec) {
        if kind == ast::DirectiveKind::PrintSize && self.prog.relations[id].printsize {
            let name = self.prog.relations[id].name.clone();
            self.error(
                codes::IO_PARAM,
                spec.span,
                format!("`.printsize` given twice for `{name}`"),
                "given again here",
            );
            return;
        }
        let rel = &mut self.prog.relations[id];
        let add = |list: &mut Vec<IoSpec>| {
            if !list.iter().any(|s| s.params == spec.params) {
                list.push(spec);
            }
        };
        match kind {
            ast::DirectiveKind::Input => add(&mut rel.inputs),
            ast::DirectiveKind::Output => add(&mut rel.outputs),
            ast::DirectiveKind::PrintSize => rel.printsize = true,
            ast::DirectiveKind::Persist => rel.persist = true,
        }
    }

    /// Pass 2: directives, and the `input`/`output`/`printsize` qualifiers of declarations.
    pub fn directives(&mut self, program: &ast::Program) {
        for item in &program.items {
            let d = match item {
                ast::Item::Directive(d) => d,
                ast::Item::Decl(decl) => {
                    let Some(&id) = self.prog.by_name.get(&decl.name.name) else {
                        continue;
                    };
                    if self.prog.relations[id].span != decl.span {
                        continue; // a duplicate declaration, already reported
                    }
                    for (i, q) in decl.qualifiers.iter().enumerate() {
                        if decl.qualifiers[..i].iter().any(|p| p.name == q.name) {
                            self.error(
                                codes::IO_PARAM,
                                q.span,
                                format!("qualifier `{}` given twice", q.name),
                                "given again here",
                            );
                            continue;
                        }
                        let kind = match q.name.as_str() {
                            "input" => ast::DirectiveKind::Input,
                            "output" => ast::DirectiveKind::Output,
                            "printsize" => ast::DirectiveKind::PrintSize,
                            _ => continue,
                        };
                        let spec = IoSpec {
                            params: BTreeMap::new(),
                            span: q.span,
                        };
                        self.apply_directive(id, kind, spec);
                    }
                    continue;
                }
                ast::Item::Rule(_) | ast::Item::Type(_) => continue,
            };
            for t in &d.targets {
                let Some(&id) = self.prog.by_name.get(&t.name.name) else {
                    let help = if d.kind == ast::DirectiveKind::Input {
                        "declare it with `.decl name(col: type, ...)` so its arity is known"
                    } else {
                        "check the spelling, or declare it with `.decl`"
                    };
                    self.diags.push(
                        Diagnostic::error(format!("unknown relation `{}`", t.name.name))
                            .with_code(codes::UNKNOWN_RELATION)
                            .with_primary(self.file, t.name.span, "not declared or used anywhere")
                            .with_help(help),
                    );
                    continue;
                };
                if self.prog.relations[id].builtin.is_some()
                    && d.kind != ast::DirectiveKind::Output
                    && d.kind != ast::DirectiveKind::PrintSize
                {
                    self.error(
                        codes::BUILTIN_MISUSE,
                        t.name.span,
                        format!("`{}` is built-in", t.name.name),
                        "only `.output` and `.printsize` apply to built-in relations",
                    );
                    continue;
                }
                if !self.check_io_params(d.kind, t) {
                    continue;
                }
                let spec = IoSpec {
                    params: t
                        .params
                        .iter()
                        .map(|p| (p.key.name.to_ascii_lowercase(), p.value.clone()))
                        .collect::<BTreeMap<_, _>>(),
                    span: d.span,
                };
                self.apply_directive(id, d.kind, spec);
            }
        }
    }

    /// The closure rules of every `eqrel` relation `e`: `e(y, x) :- e(x, y).` and
    /// `e(x, z) :- e(x, y), e(y, z).` (reflexivity on the related values follows from the two).
    pub fn eqrel_rules(&mut self) {
        for id in 0..self.prog.relations.len() {
            let rel = &self.prog.relations[id];
            if !rel.eqrel {
                continue;
            }
            let (span, name) = (rel.span, rel.name.clone());
            if rel.arity != 2 {
                let arity = rel.arity;
                self.diags.push(
                    Diagnostic::error(format!(
                        "`eqrel` relation `{name}` has {arity} column{}; an equivalence relation has 2",
                        if arity == 1 { "" } else { "s" }
                    ))
                    .with_code(codes::ARITY_MISMATCH)
                    .with_primary(self.file, span, "declared `eqrel` here")
                    .with_help("declare it with two columns of the same type"),
                );
                continue;
            }
            let var = |n: &str| Var {
                name: n.to_string(),
                span,
            };
            let atom = |a: VarId, b: VarId| {
                BodyItem::Atom(Atom {
                    rel: id,
                    args: vec![Term::Var(a), Term::Var(b)],
                    span,
                })
            };
            self.push_rule(Rule {
                head: id,
                head_args: vec![Expr::Var(1), Expr::Var(0)],
                time: Time::Now,
                body: vec![atom(0, 1)],
                vars: vec![var("x"), var("y")],
                span,
                head_span: span,
                compiler_made: true,
                raw_reads: Vec::new(),
                var_types: Vec::new(),
            });
            self.push_rule(Rule {
                head: id,
                head_args: vec![Expr::Var(0), Expr::Var(2)],
                time: Time::Now,
                body: vec![atom(0, 1), atom(1, 2)],
                vars: vec![var("x"), var("y"), var("z")],
                span,
                head_span: span,
                compiler_made: true,
                raw_reads: Vec::new(),
                var_types: Vec::new(),
            });
        }
    }

    /// Pass 3: rules and facts.
    pub fn rules(&mut self, program: &ast::Program) {
        // Resolve every atom first so that arity is fixed by the first use in source order.
        for item in &program.items {
            if let ast::Item::Rule(rule) = item {
                if rule.dominated_by.is_some() {
                    self.lower_subsumption(rule);
                } else {
                    self.lower_rule(rule);
                }
            }
        }
    }

    fn lower_rule(&mut self, rule: &ast::Rule) {
        let time = match rule.time {
            None => Time::Now,
            Some(ast::TimeSuffix::Next(_)) => Time::Next,
            Some(ast::TimeSuffix::Async(s)) => {
                let locs: Vec<usize> = rule
                    .head
                    .args
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.location)
                    .map(|(i, _)| i)
                    .collect();
                match locs.as_slice() {
                    [i] => Time::Async { location: *i },
                    [] => {
                        self.diags.push(
                            Diagnostic::error("an `@async` rule needs a location argument")
                                .with_code(codes::LOCATION)
                                .with_primary(self.file, s, "no argument is marked with `@`")
                                .with_help(
                                    "mark the argument naming the destination node, e.g. `p(@n, x)@async :- q(x), $member(n).`",
                                ),
                        );
                        return;
                    }
                    [_, second, ..] => {
                        let span = rule.head.args[*second].span;
                        self.error(
                            codes::LOCATION,
                            span,
                            "an `@async` head has exactly one location argument",
                            "second location argument",
                        );
                        return;
                    }
                }
            }
        };
        if !matches!(time, Time::Async { .. })
            && let Some(a) = rule.head.args.iter().find(|a| a.location)
        {
            self.diags.push(
                Diagnostic::error(
                    "a location argument `@x` is only meaningful in an `@async` head",
                )
                .with_code(codes::LOCATION)
                .with_primary(self.file, a.span, "location argument here")
                .with_help("add `@async` after the head, or remove the `@`"),
            );
            return;
        }
        let Some(head) = self.resolve(&rule.head.name, rule.head.args.len(), true) else {
            return;
        };
        let has_head_agg = rule
            .head
            .args
            .iter()
            .any(|a| matches!(&a.expr, ast::Expr::Aggregate(g) if g.head_form));

        let dependent = crate::aggscope::mutually_dependent(&rule.body);
        for span in &dependent {
            self.diags.push(
                Diagnostic::error("mutually dependent aggregates")
                    .with_code(codes::AGGREGATE)
                    .with_primary(self.file, *span, "this aggregate and another each use a variable only the other binds")
                    .with_help("bind the variables the aggregates share with a positive atom outside them, or give them different names"),
            );
        }
        if !dependent.is_empty() {
            return;
        }
        let mut scope = Scope::new(self.file, rule);
        let mut body = Vec::new();
        let errors_before = self.diags.len();
        for lit in &rule.body {
            scope.lower_literal(self, lit, &mut body, None);
        }
        if scope.broken || self.diags.len() > errors_before {
            return;
        }
        if has_head_agg {
            self.lower_head_aggregate(rule, head, time, scope, body);
            return;
        }
        let mut head_args = Vec::new();
        for arg in &rule.head.args {
            match scope.lower_head_expr(self, &arg.expr) {
                Some(e) => head_args.push(e),
                None => return,
            }
        }
        // Aggregates written in head arguments are computed in the body.
        body.append(&mut scope.pending);
        if scope.broken {
            return;
        }
        // A ground fact.
        if rule.body.is_empty() && time == Time::Now && scope.vars.is_empty() {
            let mut values = Vec::new();
            for (arg, e) in rule.head.args.iter().zip(&head_args) {
                match fold_const(e) {
                    Ok(c) => values.push(c),
                    Err(msg) => {
                        self.error(codes::CONST_EVAL, arg.span, msg, "in this fact");
                        return;
                    }
                }
            }
            self.prog.facts.push(Fact {
                rel: head,
                values,
                exprs: head_args,
                span: rule.span,
            });
            return;
        }
        let r = Rule {
            head,
            head_args,
            time,
            body,
            vars: scope.vars,
            span: rule.span,
            head_span: rule.head.span,
            compiler_made: false,
            raw_reads: Vec::new(),
            var_types: Vec::new(),
        };
        self.push_rule(r);
    }

    fn push_rule(&mut self, r: Rule) {
        if r.time == Time::Now {
            self.prog.relations[r.head].edb = false;
        }
        self.prog.rules.push(r);
    }

    /// `total(k, sum(v)) :- body.` becomes
    /// `$aggN(vars..) :- body.` and
    /// `total(k, s) :- $aggN(k, ..), s = sum v' : { $aggN(k, v', ..) }.`
    fn lower_head_aggregate(
        &mut self,
        rule: &ast::Rule,
        head: RelId,
        time: Time,
        scope: Scope,
        body: Vec<BodyItem>,
    ) {
        let nvars = scope.vars.len();
        let aux_name = format!("$agg{}", self.aux_count);
        self.aux_count += 1;
        let aux = self.add_relation(&aux_name, nvars, rule.head.span);
        {
            let rel = &mut self.prog.relations[aux];
            rel.builtin = Some(Builtin::Auxiliary);
            rel.columns = scope.vars.iter().map(|v| v.name.clone()).collect();
        }
        let aux_rule = Rule {
            head: aux,
            head_args: (0..nvars).map(Expr::Var).collect(),
            time: Time::Now,
            body,
            vars: scope.vars.clone(),
            span: rule.span,
            head_span: rule.head.span,
            compiler_made: false,
            raw_reads: Vec::new(),
            var_types: Vec::new(),
        };
        self.push_rule(aux_rule);

        // The main rule reuses the body scope's variable numbering for the grouping variables.
        let mut vars = scope.vars.clone();
        let mut group_vars = HashSet::new();
        let mut head_args = Vec::new();
        let mut aggs = Vec::new();
        let mut main_scope = scope;
        for arg in &rule.head.args {
            if let ast::Expr::Aggregate(g) = &arg.expr
                && g.head_form
            {
                aggs.push(g);
                head_args.push(None);
                continue;
            }
            match main_scope.lower_head_expr(self, &arg.expr) {
                Some(e) => {
                    e.for_each_var(&mut |v| {
                        group_vars.insert(v);
                    });
                    head_args.push(Some(e));
                }
                None => return,
            }
        }
        let mut group: Vec<VarId> = group_vars.into_iter().collect();
        group.sort_unstable();
        let new_var = |vars: &mut Vec<Var>, name: &str, span: Span| {
            vars.push(Var {
                name: name.to_string(),
                span,
            });
            vars.len() - 1
        };
        let mut main_body = Vec::new();
        // The groups: $aggN(k, _, ..).
        let outer_args: Vec<Term> = (0..nvars)
            .map(|v| {
                if group.contains(&v) {
                    Term::Var(v)
                } else {
                    Term::Var(new_var(&mut vars, "_", rule.head.span))
                }
            })
            .collect();
        main_body.push(BodyItem::Atom(Atom {
            rel: aux,
            args: outer_args,
            span: rule.head.span,
        }));
        let mut agg_results = Vec::new();
        for g in aggs {
            // Inner copies of the non-group variables.
            let mut map: HashMap<VarId, VarId> = HashMap::new();
            let inner_args: Vec<Term> = (0..nvars)
                .map(|v| {
                    if group.contains(&v) {
                        Term::Var(v)
                    } else {
                        let name = vars[v].name.clone();
                        let nv = new_var(&mut vars, &name, g.span);
                        map.insert(v, nv);
                        Term::Var(nv)
                    }
                })
                .collect();
            let target = match &g.target {
                Some(t) => match main_scope.lower_head_expr(self, t) {
                    Some(e) => Some(remap(&e, &map)),
                    None => return,
                },
                None => None,
            };
            if g.func != AggFunc::Count && target.is_none() {
                self.error(
                    codes::AGGREGATE,
                    g.span,
                    format!("`{}` needs an argument", g.func.as_str()),
                    "no argument",
                );
                return;
            }
            let result = new_var(&mut vars, g.func.as_str(), g.span);
            main_body.push(BodyItem::Aggregate(Aggregate {
                var: result,
                func: g.func,
                target: if g.func == AggFunc::Count {
                    None
                } else {
                    target
                },
                body: vec![BodyItem::Atom(Atom {
                    rel: aux,
                    args: inner_args,
                    span: g.span,
                })],
                outer: group.clone(),
                span: g.span,
            }));
            agg_results.push(result);
        }
        if !main_scope.pending.is_empty() {
            self.error(
                codes::AGGREGATE,
                rule.head.span,
                "a body-form aggregate cannot be written in the head of a rule with a head-form aggregate",
                "bind it in the body: `n = count : { ... }`",
            );
            return;
        }
        let mut results = agg_results.into_iter();
        let head_args = head_args
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Expr::Var(results.next().unwrap_or(0))))
            .collect();
        self.push_rule(Rule {
            head,
            head_args,
            time,
            body: main_body,
            vars,
            span: rule.span,
            head_span: rule.head.span,
            compiler_made: false,
            raw_reads: Vec::new(),
            var_types: Vec::new(),
        });
    }
}

/// The built-in string predicates, which cannot name a relation.
fn is_predicate_name(name: &str) -> bool {
    CmpOp::predicate(name, false).is_some()
}

fn remap(e: &Expr, map: &HashMap<VarId, VarId>) -> Expr {
    match e {
        Expr::Var(v) => Expr::Var(*map.get(v).unwrap_or(v)),
        Expr::Const(c) => Expr::Const(c.clone()),
        Expr::Neg(a) => Expr::Neg(Box::new(remap(a, map))),
        Expr::Bin(op, a, b) => Expr::Bin(*op, Box::new(remap(a, map)), Box::new(remap(b, map))),
        Expr::Call(f, args) => Expr::Call(*f, args.iter().map(|a| remap(a, map)).collect()),
        Expr::Record(c, args) => Expr::Record(*c, args.iter().map(|a| remap(a, map)).collect()),
        Expr::Field {
            rec,
            ctor,
            index,
            of,
        } => Expr::Field {
            rec: Box::new(remap(rec, map)),
            ctor: *ctor,
            index: *index,
            of: *of,
        },
        Expr::Tag(a) => Expr::Tag(Box::new(remap(a, map))),
        Expr::As(t, a) => Expr::As(*t, Box::new(remap(a, map))),
    }
}

/// Evaluates a constant expression; an integer literal is a `number` (see
/// [`crate::numeric::fold`] for the typed evaluation once the types are known).
pub(crate) fn fold_const(e: &Expr) -> Result<Const, String> {
    crate::numeric::fold(e, None)
}

/// The built-in type called `name`.
pub(crate) fn builtin_type(name: &str) -> Option<Type> {
    match name {
        "number" => Some(Type::Number),
        "unsigned" => Some(Type::Unsigned),
        "float" => Some(Type::Float),
        "symbol" => Some(Type::Symbol),
        _ => None,
    }
}

/// Variable numbering for one rule.
struct Scope {
    file: FileId,
    vars: Vec<Var>,
    by_name: HashMap<(usize, String), VarId>,
    /// Per scope (0 = the rule body, n = the n-th aggregate): the names that occur in it
    /// outside its aggregates, or are shared with the scope around it; an aggregate written in
    /// the scope shares these names (see `aggscope`).
    ctx: Vec<HashSet<String>>,
    /// Per scope: the names it shares with its parent.
    shared: Vec<HashSet<String>>,
    /// Per scope: the scope it is written in.
    parent: Vec<usize>,
    /// Names written in the rule body outside aggregates.
    body_names: HashSet<String>,
    /// Per name: how many body literals mention it outside aggregates.
    literals_with: HashMap<String, usize>,
    /// Names already exported as a witness by an aggregate.
    witnessed: HashSet<String>,
    /// Per variable: the scope it belongs to.
    var_scope: Vec<usize>,
    /// The scope being lowered (fresh variables belong to it).
    cur: usize,
    /// Aggregates written inside an expression of the literal being lowered, bound to fresh
    /// variables: they go before the literal.
    pending: Vec<BodyItem>,
    agg_count: usize,
    /// An error was reported inside the rule: it is dropped to avoid follow-on errors.
    broken: bool,
}

impl Scope {
    fn new(file: FileId, rule: &ast::Rule) -> Self {
        let mut body_names = HashSet::new();
        let mut literals_with = HashMap::new();
        for l in &rule.body {
            let mut names = HashSet::new();
            crate::aggscope::lit_names(l, false, &mut names);
            for n in names {
                *literals_with.entry(n.clone()).or_insert(0) += 1;
                body_names.insert(n);
            }
        }
        let mut root = body_names.clone();
        for a in &rule.head.args {
            crate::aggscope::expr_names(&a.expr, false, &mut root);
        }
        Scope {
            file,
            vars: Vec::new(),
            by_name: HashMap::new(),
            ctx: vec![root],
            shared: vec![HashSet::new()],
            parent: vec![0],
            body_names,
            literals_with,
            witnessed: HashSet::new(),
            var_scope: Vec::new(),
            cur: 0,
            pending: Vec::new(),
            agg_count: 0,
            broken: false,
        }
    }

    fn fresh(&mut self, name: &str, span: Span) -> VarId {
        let sc = self.cur;
        self.fresh_in(sc, name, span)
    }

    fn fresh_in(&mut self, sc: usize, name: &str, span: Span) -> VarId {
        self.vars.push(Var {
            name: name.to_string(),
            span,
        });
        self.var_scope.push(sc);
        self.vars.len() - 1
    }

    /// The variable `name` as seen from scope `sc`: a name an aggregate shares with the scope
    /// around it is that scope's variable; any other is the aggregate's own.
    fn var(&mut self, sc: usize, name: &str, span: Span) -> VarId {
        let mut key_sc = sc;
        while key_sc != 0 && self.shared[key_sc].contains(name) {
            key_sc = self.parent[key_sc];
        }
        if let Some(&v) = self.by_name.get(&(key_sc, name.to_string())) {
            return v;
        }
        let v = self.fresh_in(key_sc, name, span);
        self.by_name.insert((key_sc, name.to_string()), v);
        v
    }

    /// Lowers one literal of scope `agg_scope` (`None`: the rule body) into `out`, after the
    /// aggregates written inside its expressions.
    fn lower_literal(
        &mut self,
        lw: &mut Lowerer,
        lit: &ast::Literal,
        out: &mut Vec<BodyItem>,
        agg_scope: Option<usize>,
    ) {
        let saved = std::mem::take(&mut self.pending);
        let saved_cur = self.cur;
        self.cur = agg_scope.unwrap_or(0);
        let mut mine = Vec::new();
        self.lower_literal_items(lw, lit, &mut mine, agg_scope);
        out.append(&mut std::mem::replace(&mut self.pending, saved));
        out.append(&mut mine);
        self.cur = saved_cur;
    }

    fn lower_literal_items(
        &mut self,
        lw: &mut Lowerer,
        lit: &ast::Literal,
        out: &mut Vec<BodyItem>,
        agg_scope: Option<usize>,
    ) {
        let sc = agg_scope.unwrap_or(0);
        match lit {
            ast::Literal::Atom(atom) => {
                let Some(rel) = lw.resolve(&atom.name, atom.args.len(), false) else {
                    self.broken = true;
                    return;
                };
                let mut args = Vec::new();
                let mut in_atom = HashSet::new();
                let mut filters = Vec::new();
                for arg in &atom.args {
                    if arg.location {
                        lw.error(
                            codes::LOCATION,
                            arg.span,
                            "a location argument `@x` is only allowed in an `@async` head",
                            "in a body atom",
                        );
                    }
                    let v = match &arg.expr {
                        ast::Expr::Var(id) => {
                            let v = self.var(sc, &id.name, id.span);
                            if in_atom.insert(v) {
                                v
                            } else {
                                let f = self.fresh(&id.name, id.span);
                                filters.push(BodyItem::Compare {
                                    op: CmpOp::Eq,
                                    lhs: Expr::Var(f),
                                    rhs: Expr::Var(v),
                                    span: arg.span,
                                });
                                f
                            }
                        }
                        ast::Expr::Wildcard(s) => self.fresh("_", *s),
                        other => {
                            let Some(e) = self.lower_expr(lw, other, sc) else {
                                return;
                            };
                            let f = self.fresh("_", arg.span);
                            filters.push(BodyItem::Compare {
                                op: CmpOp::Eq,
                                lhs: Expr::Var(f),
                                rhs: e,
                                span: arg.span,
                            });
                            f
                        }
                    };
                    args.push(Term::Var(v));
                }
                out.push(BodyItem::Atom(Atom {
                    rel,
                    args,
                    span: atom.span,
                }));
                out.extend(filters);
            }
            ast::Literal::Negated { atom, .. } => {
                let Some(rel) = lw.resolve(&atom.name, atom.args.len(), false) else {
                    self.broken = true;
                    return;
                };
                let mut args = Vec::new();
                for arg in &atom.args {
                    let t = match &arg.expr {
                        ast::Expr::Var(id) => Term::Var(self.var(sc, &id.name, id.span)),
                        ast::Expr::Wildcard(_) => Term::Wildcard,
                        ast::Expr::Number(n, _) => Term::Const(Const::Number(*n)),
                        ast::Expr::Unsigned(n, _) => Term::Const(Const::Unsigned(*n)),
                        ast::Expr::Float(f, _) => {
                            Term::Const(Const::Float(crate::number::float_bits(*f)))
                        }
                        ast::Expr::String(s, _) => Term::Const(Const::Symbol(s.clone())),
                        other if crate::record::has_wildcard(other) => {
                            lw.diags.push(
                                Diagnostic::error(
                                    "`_` inside a record in a negated atom is not supported",
                                )
                                .with_code(codes::WILDCARD)
                                .with_primary(self.file, arg.span, "a record pattern with `_`")
                                .with_help(
                                    "negate a relation that projects the field away instead: \
                                     `r(x) :- p([x, _]).` then `!r(x)`",
                                ),
                            );
                            self.broken = true;
                            return;
                        }
                        other => {
                            let Some(e) = self.lower_expr(lw, other, sc) else {
                                return;
                            };
                            let f = self.fresh("_", arg.span);
                            out.push(BodyItem::Assign {
                                var: f,
                                expr: e,
                                span: arg.span,
                            });
                            Term::Var(f)
                        }
                    };
                    args.push(t);
                }
                out.push(BodyItem::Negated(Atom {
                    rel,
                    args,
                    span: atom.span,
                }));
            }
            ast::Literal::Compare { op, lhs, rhs, span } => {
                let range_side = match (lhs, rhs) {
                    (
                        ast::Expr::Var(v),
                        ast::Expr::Call {
                            func: ast::Functor::Range,
                            args,
                            ..
                        },
                    )
                    | (
                        ast::Expr::Call {
                            func: ast::Functor::Range,
                            args,
                            ..
                        },
                        ast::Expr::Var(v),
                    ) if *op == CmpOp::Eq => Some((v, args)),
                    _ => None,
                };
                if let Some((v, args)) = range_side {
                    let var = self.var(sc, &v.name, v.span);
                    let mut lowered = Vec::with_capacity(args.len());
                    for a in args {
                        let Some(e) = self.lower_expr(lw, a, sc) else {
                            return;
                        };
                        lowered.push(e);
                    }
                    out.push(BodyItem::Range {
                        var,
                        args: lowered,
                        span: *span,
                    });
                    return;
                }
                let agg_side = match (lhs, rhs) {
                    (_, ast::Expr::Aggregate(g)) if !g.head_form => Some((lhs, g)),
                    (ast::Expr::Aggregate(g), _) if !g.head_form => Some((rhs, g)),
                    _ => None,
                };
                if let Some((other, g)) = agg_side
                    && *op == CmpOp::Eq
                {
                    // `n = agg`: the aggregate binds `n` (whose name stays local to it).
                    let result_name = match other {
                        ast::Expr::Var(id) => Some(id.name.as_str()),
                        _ => None,
                    };
                    let Some((mut items, result)) = self.lower_aggregate(lw, g, sc, result_name)
                    else {
                        return;
                    };
                    out.append(&mut items);
                    if matches!(other, ast::Expr::Wildcard(_)) {
                        return;
                    }
                    let Some(other) = self.lower_expr(lw, other, sc) else {
                        return;
                    };
                    out.push(BodyItem::Compare {
                        op: CmpOp::Eq,
                        lhs: other,
                        rhs: Expr::Var(result),
                        span: *span,
                    });
                    return;
                }
                if matches!(op, CmpOp::Match | CmpOp::NotMatch)
                    && let ast::Expr::String(p, pspan) = lhs
                    && let Err(msg) = crate::Pattern::new(p)
                {
                    lw.diags.push(
                        Diagnostic::error(format!("invalid regular expression: {msg}"))
                            .with_code(codes::BAD_PATTERN)
                            .with_primary(self.file, *pspan, "in this pattern")
                            .with_help(
                                "patterns use the syntax of Rust's `regex` crate (no \
                                 backreferences or look-around) and match the whole string",
                            ),
                    );
                    self.broken = true;
                    return;
                }
                let (Some(l), Some(r)) =
                    (self.lower_expr(lw, lhs, sc), self.lower_expr(lw, rhs, sc))
                else {
                    return;
                };
                out.push(BodyItem::Compare {
                    op: *op,
                    lhs: l,
                    rhs: r,
                    span: *span,
                });
            }
        }
    }

    /// Lowers a body-form aggregate written in scope `parent` whose result is bound to the
    /// variable named `result` (if any): the aggregate, then (for witnesses) the body again
    /// with the witnesses shared, and the result variable.
    fn lower_aggregate(
        &mut self,
        lw: &mut Lowerer,
        g: &ast::Aggregate,
        parent: usize,
        result: Option<&str>,
    ) -> Option<(Vec<BodyItem>, VarId)> {
        let names = crate::aggscope::agg_names(g);
        // The variable the result is bound to is the aggregate's own inside it, unless another
        // body literal binds it too (then it groups the aggregate, as in Souffle).
        let result =
            result.filter(|r| parent != 0 || self.literals_with.get(*r).copied().unwrap_or(0) <= 1);
        let mut shared: HashSet<String> = names
            .iter()
            .filter(|n| self.ctx[parent].contains(*n) && Some(n.as_str()) != result)
            .cloned()
            .collect();
        // Witnesses: shared with the rule, but no body literal outside can bind them.
        let mut witnesses: Vec<String> = if parent == 0 {
            shared
                .iter()
                .filter(|n| !self.body_names.contains(*n))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        witnesses.sort();
        if let Some(w) = witnesses.first() {
            if !matches!(g.func, AggFunc::Min | AggFunc::Max) {
                lw.diags.push(
                    Diagnostic::error(format!(
                        "variable `{w}` is bound only inside a `{}` aggregate",
                        g.func.as_str()
                    ))
                    .with_code(codes::AGGREGATE)
                    .with_primary(self.file, g.span, "used outside it, bound only here")
                    .with_help(
                        "only `min` and `max` export a witness (the values for which the \
                         extremum is reached); bind the variable outside the aggregate",
                    ),
                );
                self.broken = true;
                return None;
            }
            if let Some(w) = witnesses.iter().find(|w| self.witnessed.contains(*w)) {
                lw.error(
                    codes::AGGREGATE,
                    g.span,
                    format!("variable `{w}` is a witness of two aggregates"),
                    "bind it outside the aggregates",
                );
                self.broken = true;
                return None;
            }
            for w in &witnesses {
                shared.remove(w);
            }
        }
        let sc = self.open_scope(g, parent, shared.clone());
        let mut body = Vec::new();
        for lit in &g.body {
            self.lower_literal(lw, lit, &mut body, Some(sc));
        }
        let saved_cur = self.cur;
        self.cur = sc;
        let target = match &g.target {
            Some(t) => self.lower_expr(lw, t, sc),
            None => None,
        };
        self.cur = saved_cur;
        if self.broken {
            return None;
        }
        if g.func != AggFunc::Count && target.is_none() {
            if g.target.is_none() {
                lw.error(
                    codes::AGGREGATE,
                    g.func_span,
                    format!("`{}` needs an expression to aggregate", g.func.as_str()),
                    format!("write `{} x : {{ ... }}`", g.func.as_str()),
                );
            }
            return None;
        }
        // Variables of the body that belong to a scope around it (the grouping).
        let mut outer = Vec::new();
        let mut seen = HashSet::new();
        let mut note = |v: VarId| {
            if self.var_scope[v] < sc && seen.insert(v) {
                outer.push(v);
            }
        };
        for item in &body {
            for_each_item_var(item, &mut note);
        }
        if let Some(t) = &target {
            t.for_each_var(&mut note);
        }
        outer.sort_unstable();
        let var = self.fresh_in(parent, g.func.as_str(), g.span);
        let mut items = vec![BodyItem::Aggregate(Aggregate {
            var,
            func: g.func,
            target: if g.func == AggFunc::Count {
                None
            } else {
                target
            },
            body,
            outer,
            span: g.span,
        })];
        if !witnesses.is_empty() {
            // The witnesses: the body again, sharing them, where the target reaches the result.
            for w in &witnesses {
                shared.insert(w.clone());
                self.witnessed.insert(w.clone());
            }
            let sc2 = self.open_scope(g, parent, shared);
            let mut again = Vec::new();
            for lit in &g.body {
                self.lower_literal(lw, lit, &mut again, Some(sc2));
            }
            let saved_cur = self.cur;
            self.cur = sc2;
            let t = g.target.as_ref().and_then(|t| self.lower_expr(lw, t, sc2));
            self.cur = saved_cur;
            let t = t?;
            items.append(&mut again);
            items.push(BodyItem::Compare {
                op: CmpOp::Eq,
                lhs: t,
                rhs: Expr::Var(var),
                span: g.span,
            });
        }
        Some((items, var))
    }

    /// A new scope for the aggregate `g` written in `parent`, sharing `shared` with it.
    fn open_scope(&mut self, g: &ast::Aggregate, parent: usize, shared: HashSet<String>) -> usize {
        self.agg_count += 1;
        let mut ctx: HashSet<String> = shared.clone();
        for l in &g.body {
            crate::aggscope::lit_names(l, false, &mut ctx);
        }
        if let Some(t) = &g.target {
            crate::aggscope::expr_names(t, false, &mut ctx);
        }
        self.ctx.push(ctx);
        self.shared.push(shared);
        self.parent.push(parent);
        self.agg_count
    }

    fn lower_expr(&mut self, lw: &mut Lowerer, e: &ast::Expr, sc: usize) -> Option<Expr> {
        Some(match e {
            ast::Expr::Var(id) => Expr::Var(self.var(sc, &id.name, id.span)),
            ast::Expr::Wildcard(s) => {
                lw.error(
                    codes::WILDCARD,
                    *s,
                    "`_` cannot be used in an expression",
                    "wildcard here",
                );
                return None;
            }
            ast::Expr::Number(n, _) => Expr::Const(Const::Number(*n)),
            ast::Expr::Unsigned(n, _) => Expr::Const(Const::Unsigned(*n)),
            ast::Expr::Float(f, _) => Expr::Const(Const::Float(crate::number::float_bits(*f))),
            ast::Expr::String(s, _) => Expr::Const(Const::Symbol(s.clone())),
            ast::Expr::Neg(a, _) => Expr::Neg(Box::new(self.lower_expr(lw, a, sc)?)),
            ast::Expr::As(inner, ty, _) => {
                let inner = self.lower_expr(lw, inner, sc)?;
                let Some(t) = builtin_type(&ty.name).or_else(|| lw.types.get(&ty.name).copied())
                else {
                    lw.unknown_type(ty);
                    self.broken = true;
                    return None;
                };
                Expr::As(t, Box::new(inner))
            }
            ast::Expr::Binary { op, lhs, rhs, .. } => Expr::Bin(
                *op,
                Box::new(self.lower_expr(lw, lhs, sc)?),
                Box::new(self.lower_expr(lw, rhs, sc)?),
            ),
            ast::Expr::Call {
                func: ast::Functor::Range,
                span,
                ..
            } => {
                lw.diags.push(
                    Diagnostic::error("`range` is a generator: it cannot be used as a value")
                        .with_code(codes::BUILTIN_MISUSE)
                        .with_primary(self.file, *span, "several values")
                        .with_help("bind it to a variable in a rule body: `x = range(a, b)`"),
                );
                self.broken = true;
                return None;
            }
            ast::Expr::Call { func, args, .. } => {
                let mut out = Vec::with_capacity(args.len());
                for a in args {
                    out.push(self.lower_expr(lw, a, sc)?);
                }
                Expr::Call(*func, out)
            }
            ast::Expr::Nil(_) => Expr::Const(Const::Nil),
            ast::Expr::Record(fields, _) => {
                Expr::Record(Ctor::Plain, self.record_fields(lw, fields, sc)?)
            }
            ast::Expr::Branch(c) => {
                let Some(ctor) = crate::record::constructor(lw, c) else {
                    self.broken = true;
                    return None;
                };
                Expr::Record(ctor, self.record_fields(lw, &c.args, sc)?)
            }
            ast::Expr::Aggregate(g) if !g.head_form => {
                // Written inside an expression: bound to a fresh variable before the literal.
                let (mut items, var) = self.lower_aggregate(lw, g, sc, None)?;
                self.pending.append(&mut items);
                Expr::Var(var)
            }
            ast::Expr::Aggregate(g) => {
                lw.error(
                    codes::AGGREGATE,
                    g.span,
                    "an aggregate is not allowed here",
                    "head-form aggregates go directly in a rule head argument",
                );
                return None;
            }
        })
    }

    /// The fields of a record literal or a constructor: `_` is a fresh variable (bound when
    /// the record is destructured; anywhere else it stays unbound, an error).
    fn record_fields(
        &mut self,
        lw: &mut Lowerer,
        fields: &[ast::Expr],
        sc: usize,
    ) -> Option<Vec<Expr>> {
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            out.push(match f {
                ast::Expr::Wildcard(s) => Expr::Var(self.fresh("_", *s)),
                other => self.lower_expr(lw, other, sc)?,
            });
        }
        Some(out)
    }

    fn lower_head_expr(&mut self, lw: &mut Lowerer, e: &ast::Expr) -> Option<Expr> {
        if let ast::Expr::Wildcard(s) = e {
            lw.diags.push(
                Diagnostic::error("`_` cannot appear in a rule head")
                    .with_code(codes::WILDCARD)
                    .with_primary(self.file, *s, "wildcard in the head")
                    .with_help(
                        "a head needs a value for every column: use a variable bound in the body",
                    ),
            );
            return None;
        }
        self.lower_expr(lw, e, 0)
    }
}

/// Calls `f` on every variable occurring in a body item (aggregate bodies included).
pub fn for_each_item_var(item: &BodyItem, f: &mut impl FnMut(VarId)) {
    match item {
        BodyItem::Atom(a) | BodyItem::Negated(a) => {
            for t in &a.args {
                if let Term::Var(v) = t {
                    f(*v);
                }
            }
        }
        BodyItem::Compare { lhs, rhs, .. } => {
            lhs.for_each_var(f);
            rhs.for_each_var(f);
        }
        BodyItem::Assign { var, expr, .. } => {
            f(*var);
            expr.for_each_var(f);
        }
        BodyItem::Range { var, args, .. } => {
            f(*var);
            args.iter().for_each(|a| a.for_each_var(f));
        }
        BodyItem::Aggregate(g) => {
            f(g.var);
            for b in &g.body {
                for_each_item_var(b, f);
            }
            if let Some(t) = &g.target {
                t.for_each_var(f);
            }
        }
    }
}
