//! Souffle's components (`.comp`, `.init`, `.override`), expanded right after parsing.
//!
//! The parser reads a program into [`Unit`]s: the items of the language plus component
//! declarations, instantiations and overrides. [`expand`] turns them into a plain
//! [`Program`]: every `.init inst = Comp<A, B>` is replaced by copies of the component's types,
//! declarations, directives and clauses (and those of its base components and nested
//! instantiations), with the names it declares prefixed by `inst.`, its type parameters replaced
//! by the actual types, and the clauses of overridden relations dropped. No component reaches the
//! later layers, which see only qualified names such as `inst.rel`.
//!
//! The expansion follows Souffle's (`ComponentInstantiation`, `ComponentLookup`,
//! `ComponentChecker`):
//!
//! - **Lookup.** A component name used in a component is looked for among the components
//!   declared in that component, then in its base components (and theirs), then in the
//!   enclosing components, then at the top level. A type parameter bound to a component name
//!   stands for that component (`.init x = T`, `.comp A<T> : T`).
//! - **Content.** An instance holds, in this order: the content of the component's nested
//!   instantiations; for each base component, the content of the base's instantiations and then
//!   the base's own content (recursively); the component's own types, relations, directives and
//!   clauses. A type or relation defined twice in one instance is an error.
//! - **Clauses.** A clause whose head relation is declared in the instance belongs to it; any
//!   other clause is an *orphan*, passed up to the enclosing instance that declares its head (or
//!   to the top level). At each instance, every name the instance declares (relations, types
//!   and the constructors of its algebraic data types) is prefixed in its relations, types,
//!   directives, clauses and in the orphans still pending.
//! - **Override.** `.override r` in a component drops the clauses for `r` that its base
//!   components contribute; `r` must be declared `overridable` in a base component and not in
//!   the component itself.
//! - **Type parameters** replace type names in type definitions and column types, and component
//!   names in lookups. They do not replace relation names.
//!
//! Every error is a [`Diagnostic`] with a code and a span; a program with a component error is
//! not instantiated (its components are dropped), so the later layers do not add follow-up
//! errors about relations of instances that do not exist. The expansion is bounded: nesting of
//! instantiations is at most [`MAX_DEPTH`] deep, it makes at most [`MAX_INSTANCES`] instantiations
//! and [`MAX_ITEMS`] items, and a program has at most [`MAX_COMPONENTS`] components.

use std::collections::{HashMap, HashSet};

use crate::ast::{
    Atom, Decl, Directive, DirectiveKind, Expr, Ident, Item, Literal, Program, Rule, TypeDecl,
    TypeDef,
};
use crate::{Diagnostic, FileId, Span};

/// The diagnostic codes of components and pragmas.
pub(crate) mod codes {
    /// A component name that no component in scope has.
    pub const UNKNOWN_COMPONENT: &str = "E0020";
    /// A component used with the wrong number of type parameters.
    pub const TYPE_PARAMS: &str = "E0021";
    /// A component that inherits from itself.
    pub const INHERITANCE_CYCLE: &str = "E0022";
    /// `.override` of a relation that is not overridable or not inherited.
    pub const OVERRIDE: &str = "E0023";
    /// A name defined twice in one instance, or a component or instance name that clashes with
    /// another name.
    pub const REDEFINITION: &str = "E0024";
    /// Instantiations nested too deep, or an expansion too large.
    pub const LIMIT: &str = "E0025";
    /// A malformed component (`.override` outside a component, a qualified component name).
    pub const MISPLACED: &str = "E0026";
    /// A `.pragma` that would change what the program computes.
    pub const PRAGMA: &str = "E0027";
    /// A `.pragma` that calm ignores (warning).
    pub const PRAGMA_IGNORED: &str = "W0027";
}

/// Deepest nesting of instantiations (an instantiation inside an instantiated component, or a
/// base component), as in Souffle.
pub const MAX_DEPTH: u32 = 100;

/// Most instantiations (and steps from a component to a base) the expansion may make.
pub const MAX_INSTANCES: usize = 50_000;

/// Most items (types, declarations, directives, clauses) the expansion may produce, counted at
/// every level of nesting they pass through.
pub const MAX_ITEMS: usize = 1_000_000;

/// Most components in a program, nested ones included.
pub const MAX_COMPONENTS: usize = 5_000;

/// A top-level or component-body element as parsed, before expansion.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Unit {
    /// A declaration, directive, type or clause.
    Item(Item),
    /// `.comp Name<T> : Base<T> { ... }`
    Comp(Component),
    /// `.init inst = Comp<A>`
    Init(Init),
    /// `.override rel` (only meaningful in a component body).
    Override(Ident),
}

/// `Name<A, B>`: a component with its type parameters (formal in a `.comp`, actual in an
/// `.init` or a base).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CompType {
    /// The component's name.
    pub name: Ident,
    /// The type parameters, possibly none.
    pub params: Vec<Ident>,
    /// From the name to the closing `>`.
    pub span: Span,
}

/// A component declaration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Component {
    /// Its name and formal type parameters.
    pub ty: CompType,
    /// The components it inherits from, with actual type parameters.
    pub bases: Vec<CompType>,
    /// Its elements, in source order.
    pub body: Vec<Unit>,
    /// From `.comp` to the closing `}`.
    pub span: Span,
}

/// A component instantiation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Init {
    /// The instance's name (the prefix of the names it declares).
    pub name: Ident,
    /// The component instantiated, with actual type parameters.
    pub ty: CompType,
    /// The whole `.init`.
    pub span: Span,
}

/// Expands every instantiation of `units` into a plain program; reports component errors.
pub(crate) fn expand(file: FileId, units: Vec<Unit>) -> (Program, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut top_comps = Vec::new();
    let mut top_inits = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        match unit {
            Unit::Item(_) => {}
            Unit::Comp(c) => top_comps.push(c),
            Unit::Init(init) => top_inits.push((i, init)),
            Unit::Override(o) => diags.push(
                Diagnostic::error("`.override` outside a component")
                    .with_code(codes::MISPLACED)
                    .with_primary(file, o.span, "not in a component")
                    .with_help(
                        "`.override` goes in the body of a component that inherits the relation",
                    ),
            ),
        }
    }
    if top_comps.is_empty() && top_inits.is_empty() {
        let items = units
            .into_iter()
            .filter_map(|u| match u {
                Unit::Item(item) => Some(item),
                _ => None,
            })
            .collect();
        return (strip_overridable(items), diags);
    }
    let tree = Tree::build(&top_comps);
    let mut ex = Expander {
        file,
        tree: &tree,
        diags: Vec::new(),
        instances: 0,
        items: 0,
        over_budget: false,
    };
    if tree.comps.len() > MAX_COMPONENTS {
        let span = tree.comps[MAX_COMPONENTS].def.ty.name.span;
        ex.error(
            codes::LIMIT,
            span,
            format!("more than {MAX_COMPONENTS} components"),
            "too many components",
        );
    } else {
        ex.check_all(top_inits.iter().map(|(_, init)| *init));
        ex.check_namespaces(&units);
    }
    // With an error in the components, nothing is instantiated.
    let mut instances: HashMap<usize, Content> = HashMap::new();
    if ex.diags.is_empty() {
        for &(i, init) in &top_inits {
            let before = ex.diags.len();
            let mut orphans = Vec::new();
            let mut content = ex.instantiate(
                init,
                None,
                &mut orphans,
                &HashSet::new(),
                &Binding::default(),
                MAX_DEPTH,
            );
            if ex.diags.len() == before {
                content.clauses.extend(orphans);
                instances.insert(i, content);
            }
        }
    }
    diags.extend(ex.diags);
    let mut items = Vec::new();
    for (i, unit) in units.into_iter().enumerate() {
        match unit {
            Unit::Item(item) => items.push(item),
            Unit::Init(_) => {
                if let Some(c) = instances.remove(&i) {
                    items.extend(c.types.into_iter().map(Item::Type));
                    items.extend(c.relations.into_iter().map(Item::Decl));
                    items.extend(c.clauses.into_iter().map(Item::Rule));
                    items.extend(c.directives.into_iter().map(Item::Directive));
                }
            }
            Unit::Comp(_) | Unit::Override(_) => {}
        }
    }
    (strip_overridable(items), diags)
}

/// Drops the `overridable` qualifier, which only matters to components, from every declaration.
fn strip_overridable(mut items: Vec<Item>) -> Program {
    for item in &mut items {
        if let Item::Decl(d) = item {
            d.qualifiers.retain(|q| q.name != "overridable");
        }
    }
    Program { items }
}

/// Index of a component in [`Tree::comps`].
type CompId = usize;

/// One component with its elements sorted by kind.
struct Node<'a> {
    def: &'a Component,
    enclosing: Option<CompId>,
    nested: Vec<CompId>,
    types: Vec<&'a TypeDecl>,
    relations: Vec<&'a Decl>,
    directives: Vec<&'a Directive>,
    clauses: Vec<&'a Rule>,
    inits: Vec<&'a Init>,
    overrides: Vec<&'a Ident>,
}

/// All components of a program, nested ones included.
struct Tree<'a> {
    comps: Vec<Node<'a>>,
    /// The top-level components by name (the first of a name; a second one is an error).
    top: HashMap<&'a str, CompId>,
    /// The top-level components in source order.
    top_order: Vec<CompId>,
}

impl<'a> Tree<'a> {
    fn build(top_comps: &[&'a Component]) -> Tree<'a> {
        let mut tree = Tree {
            comps: Vec::new(),
            top: HashMap::new(),
            top_order: Vec::new(),
        };
        for c in top_comps {
            let id = tree.add(c, None);
            tree.top.entry(&c.ty.name.name).or_insert(id);
            tree.top_order.push(id);
        }
        tree
    }

    fn add(&mut self, def: &'a Component, enclosing: Option<CompId>) -> CompId {
        let id = self.comps.len();
        self.comps.push(Node {
            def,
            enclosing,
            nested: Vec::new(),
            types: Vec::new(),
            relations: Vec::new(),
            directives: Vec::new(),
            clauses: Vec::new(),
            inits: Vec::new(),
            overrides: Vec::new(),
        });
        for unit in &def.body {
            match unit {
                Unit::Item(Item::Type(t)) => self.comps[id].types.push(t),
                Unit::Item(Item::Decl(d)) => self.comps[id].relations.push(d),
                Unit::Item(Item::Directive(d)) => self.comps[id].directives.push(d),
                Unit::Item(Item::Rule(r)) => self.comps[id].clauses.push(r),
                Unit::Init(i) => self.comps[id].inits.push(i),
                Unit::Override(o) => self.comps[id].overrides.push(o),
                Unit::Comp(c) => {
                    let child = self.add(c, Some(id));
                    self.comps[id].nested.push(child);
                }
            }
        }
        id
    }

    fn name(&self, id: CompId) -> &str {
        &self.comps[id].def.ty.name.name
    }

    /// The component `name` seen from `scope` (`None`: the top level), Souffle's lookup: the
    /// components declared in `scope`, then in its bases, then in the enclosing scopes, then at
    /// the top level. A name bound in `binding` stands for its binding.
    fn lookup(&self, scope: Option<CompId>, name: &str, binding: &Binding) -> Option<CompId> {
        let mut seen = HashSet::new();
        self.lookup_in(scope, name, binding, &mut seen, 0)
    }

    fn lookup_in(
        &self,
        scope: Option<CompId>,
        name: &str,
        binding: &Binding,
        seen: &mut HashSet<CompId>,
        depth: u32,
    ) -> Option<CompId> {
        let bound = binding.get(name).unwrap_or(name);
        let mut scope = scope;
        while let Some(s) = scope {
            if let Some(&c) = self.comps[s]
                .nested
                .iter()
                .find(|&&c| self.name(c) == bound)
            {
                return Some(c);
            }
            // Each scope's bases are searched once per lookup, so a cycle of bases (an error
            // reported by the checks) cannot make the search loop, and a chain of them is
            // followed [`MAX_DEPTH`] levels at most.
            if depth < MAX_DEPTH && seen.insert(s) {
                for base in &self.comps[s].def.bases {
                    let enclosing = self.comps[s].enclosing;
                    match self.lookup_in(enclosing, &base.name.name, binding, seen, depth + 1) {
                        Some(b) if b == s => return None,
                        Some(b) => {
                            let found = self.lookup_in(Some(b), name, binding, seen, depth + 1);
                            if found.is_some() {
                                return found;
                            }
                        }
                        None => {}
                    }
                }
            }
            scope = self.comps[s].enclosing;
        }
        self.top.get(bound).copied()
    }
}

/// Type parameters bound to actual names (types or components).
#[derive(Clone, Debug, Default)]
struct Binding(HashMap<String, String>);

impl Binding {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The binding inside a component whose formal parameters are `formal`, used with `actual`
    /// (names bound here are forwarded). With a wrong number of parameters (an error reported by
    /// the checks), the binding is unchanged.
    fn extend(&self, formal: &[Ident], actual: &[Ident]) -> Binding {
        if formal.len() != actual.len() {
            return self.clone();
        }
        Binding(
            formal
                .iter()
                .zip(actual)
                .map(|(f, a)| {
                    let to = self.get(&a.name).unwrap_or(&a.name).to_string();
                    (f.name.clone(), to)
                })
                .collect(),
        )
    }

    /// Replaces a bound type name.
    fn apply(&self, ident: &mut Ident) {
        if let Some(to) = self.0.get(&ident.name) {
            ident.name.clone_from(to);
        }
    }
}

/// The instantiated content of a component.
#[derive(Default)]
struct Content {
    types: Vec<TypeDecl>,
    relations: Vec<Decl>,
    directives: Vec<Directive>,
    clauses: Vec<Rule>,
    /// Where each type of `types` is defined, by name (while the content is collected).
    type_index: HashMap<String, Span>,
    /// Where each relation of `relations` is declared, by name (while the content is
    /// collected).
    relation_index: HashMap<String, Span>,
}

struct Expander<'t, 'a> {
    file: FileId,
    tree: &'t Tree<'a>,
    diags: Vec<Diagnostic>,
    /// Instantiations made so far (bounded by [`MAX_INSTANCES`]).
    instances: usize,
    /// Items produced so far (bounded by [`MAX_ITEMS`]).
    items: usize,
    /// A bound was exceeded (and reported).
    over_budget: bool,
}

impl Expander<'_, '_> {
    /// An error diagnostic, not yet reported.
    fn err(&self, code: &str, span: Span, message: String, label: &str) -> Diagnostic {
        Diagnostic::error(message)
            .with_code(code)
            .with_primary(self.file, span, label)
    }

    fn error(&mut self, code: &str, span: Span, message: String, label: &str) {
        let d = self.err(code, span, message, label);
        self.diags.push(d);
    }

    fn unknown_component(&mut self, name: &Ident) {
        self.error(
            codes::UNKNOWN_COMPONENT,
            name.span,
            format!("unknown component `{}`", name.name),
            "no component of this name is in scope",
        );
    }

    /// Counts one instantiation and `items` items; `false` (after reporting it once) when a
    /// bound is exceeded.
    fn spend(&mut self, instances: usize, items: usize, span: Span) -> bool {
        self.instances = self.instances.saturating_add(instances);
        self.items = self.items.saturating_add(items);
        if (self.instances > MAX_INSTANCES || self.items > MAX_ITEMS) && !self.over_budget {
            self.over_budget = true;
            let d = self
                .err(
                    codes::LIMIT,
                    span,
                    format!(
                        "component expansion too large: more than {MAX_INSTANCES} \
                         instantiations or {MAX_ITEMS} items"
                    ),
                    "expansion too large",
                )
                .with_help("a component probably instantiates itself through a type parameter");
            self.diags.push(d);
        }
        !self.over_budget
    }

    // ---- checks (Souffle's ComponentChecker) ----

    fn check_all<'i>(&mut self, top_inits: impl Iterator<Item = &'i Init>) {
        let tree = self.tree;
        for &id in &tree.top_order {
            self.check_component(id, &Binding::default());
        }
        for init in top_inits {
            self.check_reference(None, &init.ty, &Binding::default());
        }
    }

    /// Checks that `ty` names a component in `scope` with as many type parameters as it is
    /// given; a name bound to a type parameter is not checked (its value is not known yet).
    fn check_reference(&mut self, scope: Option<CompId>, ty: &CompType, binding: &Binding) {
        if binding.get(&ty.name.name).is_some() {
            return;
        }
        let Some(c) = self.tree.lookup(scope, &ty.name.name, binding) else {
            self.unknown_component(&ty.name);
            return;
        };
        let formal = &self.tree.comps[c].def.ty;
        if formal.params.len() != ty.params.len() {
            let (want, given) = (formal.params.len(), ty.params.len());
            let d = self
                .err(
                    codes::TYPE_PARAMS,
                    ty.span,
                    format!(
                        "component `{}` takes {want} type parameter{}, {given} given",
                        ty.name.name,
                        plural(want)
                    ),
                    "wrong number of type parameters",
                )
                .with_secondary(self.file, formal.span, "declared here");
            self.diags.push(d);
        }
    }

    fn check_component(&mut self, id: CompId, binding: &Binding) {
        let tree = self.tree;
        let node = &tree.comps[id];
        let def = node.def;
        // Inside the component its type parameters stand for names not known yet.
        let placeholders: Vec<Ident> = def
            .ty
            .params
            .iter()
            .map(|p| Ident {
                name: "<type parameter>".to_string(),
                span: p.span,
            })
            .collect();
        let active = binding.extend(&def.ty.params, &placeholders);
        for base in &def.bases {
            self.check_reference(node.enclosing, base, &active);
        }
        // All ancestors, each base looked up where the component naming it is declared.
        let mut parents: Vec<CompId> = Vec::new();
        let mut todo = vec![id];
        while let Some(c) = todo.pop() {
            for base in &tree.comps[c].def.bases {
                if let Some(b) = tree.lookup(tree.comps[c].enclosing, &base.name.name, binding)
                    && !parents.contains(&b)
                {
                    parents.push(b);
                    todo.push(b);
                }
            }
        }
        // As in Souffle, an override error points at the component (the `.override` and the
        // declaration are secondary labels).
        for o in &node.overrides {
            if let Some(own) = node.relations.iter().find(|r| r.name.name == o.name) {
                let d = self
                    .err(
                        codes::OVERRIDE,
                        def.ty.name.span,
                        format!(
                            "component `{}` overrides `{}`, which it declares itself",
                            def.ty.name.name, o.name
                        ),
                        "override of a relation that is not inherited",
                    )
                    .with_secondary(self.file, o.span, "overridden here")
                    .with_secondary(self.file, own.name.span, "declared here")
                    .with_help("only a relation declared in a base component can be overridden");
                self.diags.push(d);
            }
            for &p in &parents {
                for r in &tree.comps[p].relations {
                    if r.name.name == o.name
                        && !r.qualifiers.iter().any(|q| q.name == "overridable")
                    {
                        let d = self
                            .err(
                                codes::OVERRIDE,
                                def.ty.name.span,
                                format!(
                                    "component `{}` overrides `{}`, which is not overridable",
                                    def.ty.name.name, o.name
                                ),
                                "override of a relation that is not `overridable`",
                            )
                            .with_secondary(self.file, o.span, "overridden here")
                            .with_secondary(self.file, r.name.span, "declared here")
                            .with_help("declare it `overridable` in the base component");
                        self.diags.push(d);
                    }
                }
            }
        }
        if parents.contains(&id) {
            let mut d = self.err(
                codes::INHERITANCE_CYCLE,
                def.ty.name.span,
                format!("component `{}` inherits from itself", def.ty.name.name),
                "cycle in inheritance",
            );
            if let Some(b) = def.bases.first() {
                d = d.with_secondary(self.file, b.span, "through this base");
            }
            self.diags.push(d);
        }
        for &n in &node.nested {
            self.check_component(n, &active);
        }
        for init in &node.inits {
            self.check_reference(Some(id), &init.ty, &active);
        }
    }

    /// Top-level component and instance names must differ from top-level type and relation
    /// names and from each other.
    fn check_namespaces(&mut self, units: &[Unit]) {
        let mut names: HashMap<&str, Span> = HashMap::new();
        for unit in units {
            match unit {
                Unit::Item(Item::Type(t)) => {
                    names.entry(&t.name.name).or_insert(t.name.span);
                }
                Unit::Item(Item::Decl(d)) => {
                    names.entry(&d.name.name).or_insert(d.name.span);
                }
                _ => {}
            }
        }
        let comps = units.iter().filter_map(|u| match u {
            Unit::Comp(c) => Some((&c.ty.name, "component")),
            _ => None,
        });
        let inits = units.iter().filter_map(|u| match u {
            Unit::Init(i) => Some((&i.name, "instance")),
            _ => None,
        });
        for (name, what) in comps.chain(inits) {
            if let Some(&prev) = names.get(name.name.as_str()) {
                let d = self
                    .err(
                        codes::REDEFINITION,
                        name.span,
                        format!("{what} `{}` has the name of another item", name.name),
                        "name already used",
                    )
                    .with_secondary(self.file, prev, "first used here")
                    .with_help("components, instances, types and relations share one namespace");
                self.diags.push(d);
            } else {
                names.insert(&name.name, name.span);
            }
        }
    }

    // ---- instantiation (Souffle's ComponentInstantiation) ----

    /// The content of the instance `init`, declared in `enclosing`, with every name it declares
    /// prefixed. Clauses whose head it does not declare are left in `orphans`.
    fn instantiate(
        &mut self,
        init: &Init,
        enclosing: Option<CompId>,
        orphans: &mut Vec<Rule>,
        overridden: &HashSet<String>,
        binding: &Binding,
        depth: u32,
    ) -> Content {
        let mut res = Content::default();
        if depth == 0 {
            let d = self
                .err(
                    codes::LIMIT,
                    init.span,
                    format!("component instantiations nested more than {MAX_DEPTH} deep"),
                    "instantiation limit reached",
                )
                .with_help("a component probably instantiates itself through a type parameter");
            self.diags.push(d);
            return res;
        }
        if !self.spend(1, 0, init.span) {
            return res;
        }
        let tree = self.tree;
        let Some(comp) = tree.lookup(enclosing, &init.ty.name.name, binding) else {
            self.unknown_component(&init.ty.name);
            return res;
        };
        let active = binding.extend(&tree.comps[comp].def.ty.params, &init.ty.params);
        for nested in &tree.comps[comp].inits {
            let content =
                self.instantiate(nested, Some(comp), orphans, overridden, &active, depth - 1);
            self.add_all(&mut res, content);
        }
        let enclosing = tree.comps[comp].enclosing;
        self.collect(
            comp, &active, enclosing, &mut res, orphans, overridden, depth,
        );
        let produced =
            res.types.len() + res.relations.len() + res.directives.len() + res.clauses.len();
        if !self.spend(0, produced, init.span) {
            return Content::default();
        }
        // Prefix what the instance declares, everywhere it is used (the indexes, by the old
        // names, are not needed any more).
        res.type_index.clear();
        res.relation_index.clear();
        let prefix = &init.name.name;
        let mut type_map: HashMap<String, String> = HashMap::new();
        for t in &mut res.types {
            let new = format!("{prefix}.{}", t.name.name);
            type_map.insert(std::mem::replace(&mut t.name.name, new.clone()), new);
        }
        let mut rel_map: HashMap<String, String> = HashMap::new();
        for r in &mut res.relations {
            let new = format!("{prefix}.{}", r.name.name);
            rel_map.insert(std::mem::replace(&mut r.name.name, new.clone()), new);
        }
        // Constructors of algebraic data types are named like types (`$inst.Branch`).
        let mut branch_map: HashMap<String, String> = HashMap::new();
        for t in &mut res.types {
            if let TypeDef::Adt(branches) = &mut t.def {
                for b in branches {
                    let new = format!("{prefix}.{}", b.name.name);
                    branch_map.insert(std::mem::replace(&mut b.name.name, new.clone()), new);
                }
            }
        }
        let rename_type = |i: &mut Ident| {
            if let Some(to) = type_map.get(&i.name) {
                i.name.clone_from(to);
            }
        };
        for r in &mut res.relations {
            r.params.iter_mut().for_each(|p| rename_type(&mut p.ty));
        }
        for t in &mut res.types {
            type_refs(&mut t.def, &mut |i| rename_type(i));
        }
        for c in res.clauses.iter_mut().chain(orphans.iter_mut()) {
            for_each_name(c, &mut |n| {
                let (map, name) = match n {
                    Name::Relation(i) => (&rel_map, i),
                    Name::Constructor(i) => (&branch_map, i),
                    Name::Type(i) => (&type_map, i),
                };
                if let Some(to) = map.get(&name.name) {
                    name.name.clone_from(to);
                }
            });
        }
        for d in &mut res.directives {
            for t in &mut d.targets {
                if let Some(to) = rel_map.get(&t.name.name) {
                    t.name.name.clone_from(to);
                }
            }
        }
        res
    }

    /// Adds to `res` the content of component `comp` and of its bases (Souffle's
    /// `collectContent`); `overridden` are the relations whose clauses a sub-component drops.
    #[allow(clippy::too_many_arguments)]
    fn collect(
        &mut self,
        comp: CompId,
        binding: &Binding,
        enclosing: Option<CompId>,
        res: &mut Content,
        orphans: &mut Vec<Rule>,
        overridden: &HashSet<String>,
        depth: u32,
    ) {
        let tree = self.tree;
        let node = &tree.comps[comp];
        let mut super_overridden = overridden.clone();
        super_overridden.extend(node.overrides.iter().map(|o| o.name.clone()));
        for base in &node.def.bases {
            let Some(b) = tree.lookup(enclosing, &base.name.name, binding) else {
                // Only a base given by a type parameter can be missing here (the checks found
                // the others).
                self.unknown_component(&base.name);
                continue;
            };
            if depth <= 1 {
                let d = self.err(
                    codes::LIMIT,
                    base.span,
                    format!("components inherit more than {MAX_DEPTH} levels deep"),
                    "instantiation limit reached",
                );
                self.diags.push(d);
                return;
            }
            if !self.spend(1, 0, base.span) {
                return;
            }
            let active = binding.extend(&tree.comps[b].def.ty.params, &base.params);
            for init in &tree.comps[b].inits {
                let content =
                    self.instantiate(init, Some(b), orphans, &HashSet::new(), &active, depth - 1);
                self.add_all(res, content);
            }
            let b_enclosing = tree.comps[b].enclosing;
            self.collect(
                b,
                &active,
                b_enclosing,
                res,
                orphans,
                &super_overridden,
                depth - 1,
            );
        }
        for t in &node.types {
            let mut t = (*t).clone();
            binding.apply(&mut t.name);
            type_refs(&mut t.def, &mut |i| binding.apply(i));
            self.add_type(res, t);
        }
        for r in &node.relations {
            let mut r = (*r).clone();
            r.params.iter_mut().for_each(|p| binding.apply(&mut p.ty));
            self.add_relation(res, r);
        }
        for d in &node.directives {
            self.add_directive(res, (*d).clone());
        }
        let declared = &res.relation_index;
        for c in &node.clauses {
            let first = c.head.name.name.split('.').next().unwrap_or_default();
            if overridden.contains(first) {
                continue;
            }
            if declared.contains_key(c.head.name.name.as_str()) {
                res.clauses.push((*c).clone());
            } else {
                orphans.push((*c).clone());
            }
        }
        // Orphans of nested instances whose head this component declares are its clauses.
        let (adopted, rest): (Vec<Rule>, Vec<Rule>) = std::mem::take(orphans)
            .into_iter()
            .partition(|c| declared.contains_key(c.head.name.name.as_str()));
        *orphans = rest;
        res.clauses.extend(adopted);
    }

    fn add_all(&mut self, res: &mut Content, content: Content) {
        for t in content.types {
            self.add_type(res, t);
        }
        for r in content.relations {
            self.add_relation(res, r);
        }
        res.clauses.extend(content.clauses);
        for d in content.directives {
            self.add_directive(res, d);
        }
    }

    fn add_type(&mut self, res: &mut Content, t: TypeDecl) {
        if let Some(&prev) = res.type_index.get(&t.name.name) {
            let d = self
                .err(
                    codes::REDEFINITION,
                    t.name.span,
                    format!("type `{}` is defined twice in one instance", t.name.name),
                    "defined again here",
                )
                .with_secondary(self.file, prev, "first defined here");
            self.diags.push(d);
            return;
        }
        res.type_index.insert(t.name.name.clone(), t.name.span);
        res.types.push(t);
    }

    fn add_relation(&mut self, res: &mut Content, r: Decl) {
        if let Some(&prev) = res.relation_index.get(&r.name.name) {
            let d = self
                .err(
                    codes::REDEFINITION,
                    r.name.span,
                    format!(
                        "relation `{}` is declared twice in one instance",
                        r.name.name
                    ),
                    "declared again here",
                )
                .with_secondary(self.file, prev, "first declared here");
            self.diags.push(d);
            return;
        }
        res.relation_index.insert(r.name.name.clone(), r.name.span);
        res.relations.push(r);
    }

    /// As in Souffle, an instance may have one `.input` and one `.printsize` per relation (and
    /// any number of `.output`s).
    fn add_directive(&mut self, res: &mut Content, d: Directive) {
        if d.kind != DirectiveKind::Output {
            for t in &d.targets {
                let prev = res.directives.iter().find(|p| {
                    p.kind == d.kind && p.targets.iter().any(|q| q.name.name == t.name.name)
                });
                if let Some(prev) = prev {
                    let e = self
                        .err(
                            codes::REDEFINITION,
                            d.span,
                            format!(
                                "a second `{}` of `{}` in one instance",
                                kind_name(d.kind),
                                t.name.name
                            ),
                            "repeated here",
                        )
                        .with_secondary(self.file, prev.span, "first given here");
                    self.diags.push(e);
                    return;
                }
            }
        }
        res.directives.push(d);
    }
}

fn kind_name(kind: DirectiveKind) -> &'static str {
    match kind {
        DirectiveKind::Input => ".input",
        DirectiveKind::Output => ".output",
        DirectiveKind::PrintSize => ".printsize",
        DirectiveKind::Persist => ".persist",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Calls `f` on every type name a type definition refers to.
fn type_refs(def: &mut TypeDef, f: &mut impl FnMut(&mut Ident)) {
    match def {
        TypeDef::Subtype(base) => f(base),
        TypeDef::Union(members) => members.iter_mut().for_each(f),
        TypeDef::Record(fields) => fields.iter_mut().for_each(|p| f(&mut p.ty)),
        TypeDef::Adt(branches) => branches
            .iter_mut()
            .flat_map(|b| b.fields.iter_mut())
            .for_each(|p| f(&mut p.ty)),
    }
}

/// A name a clause uses.
enum Name<'a> {
    /// The relation of an atom.
    Relation(&'a mut Ident),
    /// The constructor of an algebraic data type (`$Branch(...)`).
    Constructor(&'a mut Ident),
    /// The type of a cast (`as(x, T)`).
    Type(&'a mut Ident),
}

/// Calls `f` on every relation name of a clause (the head, body atoms, negated atoms and the
/// atoms of aggregates, at any depth) and on every constructor name.
fn for_each_name(rule: &mut Rule, f: &mut impl FnMut(Name<'_>)) {
    atom_and_args(&mut rule.head, f);
    if let Some(d) = &mut rule.dominated_by {
        atom_and_args(d, f);
    }
    literals(&mut rule.body, f);
}

fn atom_and_args(atom: &mut Atom, f: &mut impl FnMut(Name<'_>)) {
    f(Name::Relation(&mut atom.name));
    for a in &mut atom.args {
        expr_atoms(&mut a.expr, f);
    }
}

fn literals(body: &mut [Literal], f: &mut impl FnMut(Name<'_>)) {
    for lit in body {
        match lit {
            Literal::Atom(a) | Literal::Negated { atom: a, .. } => atom_and_args(a, f),
            Literal::Compare { lhs, rhs, .. } => {
                expr_atoms(lhs, f);
                expr_atoms(rhs, f);
            }
        }
    }
}

fn expr_atoms(e: &mut Expr, f: &mut impl FnMut(Name<'_>)) {
    match e {
        Expr::Var(_)
        | Expr::Wildcard(_)
        | Expr::Number(..)
        | Expr::Float(..)
        | Expr::Unsigned(..)
        | Expr::String(..)
        | Expr::Nil(_) => {}
        Expr::As(inner, ty, _) => {
            f(Name::Type(ty));
            expr_atoms(inner, f);
        }
        Expr::Record(fields, _) => fields.iter_mut().for_each(|a| expr_atoms(a, f)),
        Expr::Branch(c) => {
            f(Name::Constructor(&mut c.name));
            c.args.iter_mut().for_each(|a| expr_atoms(a, f));
        }
        Expr::Neg(inner, _) => expr_atoms(inner, f),
        Expr::Binary { lhs, rhs, .. } => {
            expr_atoms(lhs, f);
            expr_atoms(rhs, f);
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|a| expr_atoms(a, f)),
        Expr::Aggregate(agg) => {
            if let Some(t) = &mut agg.target {
                expr_atoms(t, f);
            }
            literals(&mut agg.body, f);
        }
    }
}
