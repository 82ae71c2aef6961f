//! The precedence graph as SVG, laid out in Rust (the `layout-rs` crate), so that neither
//! `calm graph --format svg` nor a console needs Graphviz: the DOT of [`super::dot`] is read
//! back and drawn, and the verdict (DOT's graph label, which the layout does not draw) is
//! written under the graph.

use layout::backends::svg::SVGWriter;
use layout::gv::{DotParser, GraphBuilder};

/// The DOT text could not be laid out (a bug: it is calm's own output).
#[derive(Debug, thiserror::Error)]
#[error("cannot lay out the graph: {0}")]
pub struct SvgError(pub String);

/// Renders DOT (as [`super::dot::render`] writes it) to an SVG document.
pub fn from_dot(dot: &str) -> Result<String, SvgError> {
    let mut parser = DotParser::new(dot);
    let graph = parser.process().map_err(SvgError)?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut writer = SVGWriter::new();
    visual.do_it(false, false, false, &mut writer);
    let svg = sorted_styles(&writer.finalize());
    Ok(match label(dot) {
        Some(title) => with_title(&svg, &title),
        None => svg,
    })
}

/// The SVG with the lines of its `<style>` block sorted: the layout writes its font classes in a
/// hash map's order, which changes from run to run, and the same program must give the same
/// file (`calm graph` and the node's console draw it alike).
fn sorted_styles(svg: &str) -> String {
    let Some(start) = svg.find("<style>\n").map(|i| i + "<style>\n".len()) else {
        return svg.to_string();
    };
    let Some(end) = svg[start..].find("</style>").map(|i| start + i) else {
        return svg.to_string();
    };
    let mut lines: Vec<&str> = svg[start..end].lines().collect();
    lines.sort_unstable();
    let mut out = String::with_capacity(svg.len());
    out.push_str(&svg[..start]);
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&svg[end..]);
    out
}

/// The graph's `label="…"` line, unescaped.
fn label(dot: &str) -> Option<String> {
    let line = dot
        .lines()
        .find_map(|l| l.trim().strip_prefix("label=\""))?;
    let text = line.strip_suffix("\";")?;
    Some(text.replace("\\\"", "\"").replace("\\\\", "\\"))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Adds a strip under the drawing with `title` in it (and as the document's `<title>`).
fn with_title(svg: &str, title: &str) -> String {
    let Some(start) = svg.find("<svg ") else {
        return svg.to_string();
    };
    let Some(end) = svg[start..].find('>').map(|i| start + i) else {
        return svg.to_string();
    };
    let tag = &svg[start..end];
    let attr = |name: &str| -> Option<f64> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        tag[at..].split('"').next()?.parse().ok()
    };
    let (Some(width), Some(height)) = (attr("width"), attr("height")) else {
        return svg.to_string();
    };
    let strip = 28.0;
    let tall = height + strip;
    let new_tag = format!(
        "<svg width=\"{width}\" height=\"{tall}\" viewBox=\"0 0 {width} {tall}\" xmlns=\"http://www.w3.org/2000/svg\""
    );
    let text = xml_escape(title);
    let extra = format!(
        "<title>{text}</title>\n<text x=\"8\" y=\"{}\" font-family=\"Helvetica, sans-serif\" font-size=\"14\">{text}</text>\n",
        height + 18.0
    );
    let rest = &svg[end..];
    let (close, body) = rest.split_at(1);
    format!("{}{new_tag}{close}\n{extra}{body}", &svg[..start])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOT: &str = "digraph calm {\n  label=\"p.dl: coordination-free \\\"really\\\" <ok>\";\n  \"a\" [shape=box];\n  \"b\" [shape=box, color=red];\n  \"a\" -> \"b\" [color=red, label=\"not\"];\n}\n";

    #[test]
    fn nodes_edges_and_the_verdict_are_drawn() {
        let svg = from_dot(DOT).unwrap();
        assert!(svg.contains("<svg "), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        for text in [">a<", ">b<", ">not<"] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.contains("p.dl: coordination-free &quot;really&quot; &lt;ok&gt;</text>"));
        assert!(svg.contains("<title>p.dl"));
        assert_eq!(svg.matches("<svg ").count(), 1);
    }

    #[test]
    fn the_same_graph_gives_the_same_file() {
        // The layout's style classes come out of a hash map, in another order each time.
        let dot = "digraph calm {\n  edge [fontsize=10];\n  \"a\" -> \"b\" [label=\"not\"];\n}\n";
        let first = from_dot(dot).unwrap();
        assert!(
            first.contains(".a10 {") && first.contains(".a14 {"),
            "{first}"
        );
        for _ in 0..20 {
            assert_eq!(from_dot(dot).unwrap(), first);
        }
    }

    #[test]
    fn style_lines_are_sorted_and_nothing_else_moves() {
        let svg = "<svg>\n<style>\n.b { x }\n.a { y }\n</style>\n<g/></svg>";
        assert_eq!(
            sorted_styles(svg),
            "<svg>\n<style>\n.a { y }\n.b { x }\n</style>\n<g/></svg>"
        );
        assert_eq!(sorted_styles("<svg/>"), "<svg/>");
    }

    #[test]
    fn bad_dot_is_an_error_not_a_panic() {
        assert!(from_dot("digraph {").is_err());
        assert!(from_dot("not a graph").is_err());
    }
}
