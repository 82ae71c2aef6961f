use calm_syntax::{parse, FileId};
#[test]
fn timing() {
    let deep = "(".repeat(100_000);
    let mut text2 = String::new();
    let mut n = 0;
    while text2.len() < 2 << 20 { text2.push_str(&format!("edge({n}, {}, \"node{n}\").\n", n + 1)); n += 1; }
    for (name, text) in [
        ("paren expr", format!("p(x) :- x = {deep}.")),
        ("paren lit", format!("p(x) :- {deep}")),
        ("bare", deep.clone()),
        ("minus", format!("p(x) :- x = {}1.", "-".repeat(100_000))),
        ("agg", format!("p(n) :- n = {}.", "count : { q(m), m = ".repeat(10_000))),
        ("chain", format!("p(x) :- x = 1{}.", " + 1".repeat(100_000))),
        ("facts", text2.clone()),
        ("spaces", " ".repeat(2<<20)),
        ("nl", "\n".repeat(2<<20)),
        ("idents", "abc ".repeat(500_000)),
    ] {
        let t = std::time::Instant::now();
        let p = parse(FileId(0), &text);
        eprintln!("{name}: {:?} {} diags", t.elapsed(), p.diagnostics.len());
    }
}
