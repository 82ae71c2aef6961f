//! The SVG layout of every program in `programs/`: a document with every relation of its DOT
//! graph drawn, and the verdict under it.

use calm_syntax::SourceMap;
use std::path::Path;

fn programs() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../programs");
    let mut out = Vec::new();
    for dir in [root.clone(), root.join("analyzer"), root.join("crdt")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "dl") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_program_is_laid_out_with_all_its_relations() {
    let all = programs();
    assert!(all.len() >= 8, "{all:?}");
    for p in all {
        let mut map = SourceMap::new();
        let file = map.add(
            p.file_name().unwrap().to_string_lossy().to_string(),
            std::fs::read_to_string(&p).unwrap(),
        );
        let dot = calm_analyzer::dot(&map, file).unwrap_or_else(|_| panic!("{}", p.display()));
        let svg = calm_analyzer::output::svg::from_dot(&dot)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(svg.contains("<svg ") && svg.trim_end().ends_with("</svg>"));
        // Every node of the DOT graph (`"name" [...]` lines) is drawn with its name.
        let nodes: Vec<&str> = dot
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"'))
            .filter(|l| !l.contains("->"))
            .filter_map(|l| l.split('"').next())
            .collect();
        assert!(!nodes.is_empty(), "{}", p.display());
        for n in nodes {
            assert!(
                svg.contains(&format!(">{n}<")),
                "{}: `{n}` not drawn",
                p.display()
            );
        }
        let verdict = if dot.contains("needs coordination") {
            "needs coordination"
        } else {
            "coordination-free"
        };
        assert!(svg.contains(verdict), "{}", p.display());
    }
}
