//! An open document: its text, and what the parser, the IR checks and the CALM analyzer say
//! about it (computed once per version, on demand).

use crate::line_index::LineIndex;
use crate::occurrences::Occurrences;
use calm_analyzer::analysis::{Analysis, SiteKind};
use calm_analyzer::{Compiled, Config, Finding};
use calm_ir::{Builtin, Lattice};
use calm_syntax::{SourceMap, Span, ast};
use std::collections::BTreeMap;
use std::rc::Rc;

/// An open document.
#[derive(Debug)]
pub struct Document {
    /// The version the client gave with its last change.
    pub version: i32,
    /// The text, or why none is held (too large, or out of sync): it is then not analysed until
    /// the client sends the whole text again, or reopens it.
    pub text: Result<Rc<str>, String>,
    /// Positions of `text`.
    pub index: Rc<LineIndex>,
    /// The analysis of this version, once computed.
    analysed: Option<Rc<Analysed>>,
    /// Whether the client has not yet been sent this version's diagnostics.
    pub dirty: bool,
}

impl Document {
    /// A document holding `text` (or why it holds none).
    pub fn new(version: i32, text: Result<String, String>) -> Document {
        let index = Rc::new(LineIndex::new(text.as_deref().unwrap_or("")));
        let text = text.map(Rc::from);
        Document {
            version,
            text,
            index,
            analysed: None,
            dirty: true,
        }
    }

    /// Replaces the text.
    pub fn set_text(&mut self, version: i32, text: Result<String, String>) {
        *self = Document::new(version, text);
    }

    /// Whether the current text has been analysed already.
    pub fn is_analysed(&self) -> bool {
        self.analysed.is_some()
    }

    /// The analysis of the current text, computed with `config` if not done yet (`None` when the
    /// document has no text).
    pub fn analysed(&mut self, name: &str, config: &Config) -> Option<Rc<Analysed>> {
        let text = self.text.as_ref().ok()?;
        if self.analysed.is_none() {
            self.analysed = Some(Rc::new(Analysed::new(name, text, config)));
        }
        self.analysed.clone()
    }
}

/// What calm knows about one version of a document.
#[derive(Debug)]
pub struct Analysed {
    /// The syntax tree (of the items that parsed).
    pub program: ast::Program,
    /// Where every relation is written.
    pub occurrences: Occurrences,
    /// Every finding of `calm check` (compile errors and lints), suppressed ones included.
    pub findings: Vec<Finding>,
    /// Whether the analyzer ran (the program compiled, apart from unstratifiable cycles).
    pub analysed: bool,
    /// What the IR and the analyzer say about each relation, by name.
    pub relations: BTreeMap<String, RelationFacts>,
}

/// What the IR and the analyzer say about one relation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelationFacts {
    /// Column names and their base types (`number`, `symbol`, `record`), from the IR.
    pub columns: Vec<(String, &'static str)>,
    /// `.persist`.
    pub persist: bool,
    /// Read from files (`.input`).
    pub input: bool,
    /// Written (`.output`, `.printsize`).
    pub output: bool,
    /// An equivalence relation.
    pub eqrel: bool,
    /// The lattice of its last column.
    pub lattice: Option<&'static str>,
    /// `$self` or `$member`.
    pub builtin: Option<&'static str>,
    /// Depends on facts that arrive by `@async` (the analyzer's asynchronous taint).
    pub async_input: bool,
    /// Depends on the cluster membership (`$member`).
    pub membership: bool,
    /// A point of order that feeds it: its span and what it is (`negation`, `count`, ...).
    pub point_of_order: Option<(Span, String)>,
}

impl Analysed {
    /// Parses, lowers and checks `text`.
    pub fn new(name: &str, text: &str, config: &Config) -> Analysed {
        let mut map = SourceMap::new();
        let file = map.add(name, text);
        let compiled = Compiled::new(&map, file);
        let report = calm_analyzer::check_compiled(&map, &compiled, config);
        let occurrences = Occurrences::new(text, &compiled.ast);
        let mut relations = BTreeMap::new();
        let analysis = compiled.complete().then(|| Analysis::new(&compiled));
        let fed = analysis.as_ref().map(Analysis::fed_by_point_of_order);
        for (i, r) in compiled.ir.relations.iter().enumerate() {
            if r.builtin == Some(Builtin::Auxiliary) {
                continue;
            }
            let mut facts = RelationFacts {
                columns: (0..r.arity)
                    .map(|c| {
                        (
                            r.columns.get(c).cloned().unwrap_or_default(),
                            r.types.get(c).map_or("?", |t| t.as_str()),
                        )
                    })
                    .collect(),
                persist: r.persist,
                input: !r.inputs.is_empty(),
                output: !r.outputs.is_empty() || r.printsize,
                eqrel: r.eqrel,
                lattice: r.lattice.map(Lattice::as_str),
                builtin: match r.builtin {
                    Some(Builtin::SelfName) => Some("$self"),
                    Some(Builtin::Member) => Some("$member"),
                    _ => None,
                },
                ..RelationFacts::default()
            };
            if let (Some(a), Some(fed)) = (&analysis, &fed) {
                facts.async_input = a.async_taint.get(i).is_some_and(Option::is_some);
                facts.membership = a.member_taint.get(i).is_some_and(Option::is_some);
                facts.point_of_order = fed.get(i).copied().flatten().map(|si| {
                    let site = &a.sites[si];
                    let what = match site.kind {
                        SiteKind::Negation => "negation".to_string(),
                        SiteKind::Aggregation(f) => format!("`{}` aggregate", f.as_str()),
                        SiteKind::LatticeRead => "raw lattice read".to_string(),
                    };
                    (site.span, what)
                });
            }
            relations.insert(r.name.clone(), facts);
        }
        let analysed = analysis.is_some();
        drop(analysis);
        Analysed {
            program: compiled.ast,
            occurrences,
            findings: report.findings,
            analysed,
            relations,
        }
    }

    /// The `.decl` of relation `name`, if it parsed.
    pub fn decl(&self, name: &str) -> Option<&ast::Decl> {
        self.program.items.iter().find_map(|i| match i {
            ast::Item::Decl(d) if d.name.name == name => Some(d),
            _ => None,
        })
    }

    /// The rules (and facts) whose head is relation `name`.
    pub fn rules_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a ast::Rule> + 'a {
        self.program.items.iter().filter_map(move |i| match i {
            ast::Item::Rule(r) if r.head.name.name == name => Some(r),
            _ => None,
        })
    }
}
