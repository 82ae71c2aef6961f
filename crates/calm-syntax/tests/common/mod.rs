//! Helpers shared by the integration tests: a printer back to calm syntax (expressions fully
//! parenthesised, so precedence is visible) and a walk over every span of a tree.

#![allow(dead_code)]

use calm_syntax::Span;
use calm_syntax::ast::{
    Aggregate, Arg, Atom, DirectiveKind, Expr, Item, Literal, Program, TimeSuffix, TypeDef,
};

/// A string literal for `s`, escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn expr(e: &Expr) -> String {
    match e {
        Expr::Var(i) => i.name.clone(),
        Expr::Wildcard(_) => "_".into(),
        // Only `i64::MIN` is a negative literal; parenthesised so it never follows `sum` directly.
        Expr::Number(n, _) if *n < 0 => format!("({n})"),
        Expr::Number(n, _) => n.to_string(),
        Expr::Unsigned(n, _) => format!("{n}u"),
        Expr::Float(f, _) if f.is_infinite() => "1.0e999".into(),
        Expr::Float(f, _) => {
            // Digits, a dot, digits and an exponent: the form the lexer reads.
            let sci = format!("{f:e}");
            let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
            let dot = if mantissa.contains('.') { "" } else { ".0" };
            format!("{mantissa}{dot}e{exp}")
        }
        Expr::As(inner, ty, _) => format!("as({}, {})", expr(inner), ty.name),
        Expr::String(s, _) => quote(s),
        Expr::Neg(inner, _) => format!("(-{})", expr(inner)),
        Expr::Binary { op, lhs, rhs, .. } => {
            format!("({} {} {})", expr(lhs), op.as_str(), expr(rhs))
        }
        Expr::Call { func, args, .. } => {
            let args: Vec<String> = args.iter().map(expr).collect();
            format!("{}({})", func.as_str(), args.join(", "))
        }
        Expr::Aggregate(a) => aggregate(a),
        Expr::Record(fields, _) => {
            let fields: Vec<String> = fields.iter().map(expr).collect();
            format!("[{}]", fields.join(", "))
        }
        Expr::Nil(_) => "nil".into(),
        Expr::Branch(c) => {
            let args: Vec<String> = c.args.iter().map(expr).collect();
            format!("${}({})", c.name.name, args.join(", "))
        }
    }
}

fn fields(ps: &[calm_syntax::ast::Param]) -> String {
    let fs: Vec<String> = ps
        .iter()
        .map(|p| format!("{}: {}", p.name.name, p.ty.name))
        .collect();
    fs.join(", ")
}

pub fn aggregate(a: &Aggregate) -> String {
    let f = a.func.as_str();
    if a.head_form {
        return format!("{f}({})", a.target.as_ref().map(expr).unwrap_or_default());
    }
    let target = a
        .target
        .as_ref()
        .map(|t| format!(" {}", expr(t)))
        .unwrap_or_default();
    let body: Vec<String> = a.body.iter().map(literal).collect();
    format!("{f}{target} : {{ {} }}", body.join(", "))
}

pub fn arg(a: &Arg) -> String {
    format!("{}{}", if a.location { "@" } else { "" }, expr(&a.expr))
}

pub fn atom(a: &Atom) -> String {
    let args: Vec<String> = a.args.iter().map(arg).collect();
    format!("{}({})", a.name.name, args.join(", "))
}

pub fn literal(l: &Literal) -> String {
    match l {
        Literal::Atom(a) => atom(a),
        Literal::Negated { atom: a, .. } => format!("!{}", atom(a)),
        Literal::Compare { op, lhs, rhs, .. } if op.is_predicate() => {
            format!("{}({}, {})", op.as_str(), expr(lhs), expr(rhs))
        }
        Literal::Compare { op, lhs, rhs, .. } => {
            format!("{} {} {}", expr(lhs), op.as_str(), expr(rhs))
        }
    }
}

pub fn item(i: &Item) -> String {
    match i {
        Item::Decl(d) => {
            let cols: Vec<String> = d
                .params
                .iter()
                .map(|p| format!("{}: {}", p.name.name, p.ty.name))
                .collect();
            let quals: String = d
                .qualifiers
                .iter()
                .map(|q| format!(" {}", q.name))
                .collect();
            format!(".decl {}({}){quals}", d.name.name, cols.join(", "))
        }
        Item::Directive(d) => {
            let kw = match d.kind {
                DirectiveKind::Input => ".input",
                DirectiveKind::Output => ".output",
                DirectiveKind::PrintSize => ".printsize",
                DirectiveKind::Persist => ".persist",
            };
            let targets: Vec<String> = d
                .targets
                .iter()
                .map(|t| {
                    if t.params.is_empty() {
                        t.name.name.clone()
                    } else {
                        let ps: Vec<String> = t
                            .params
                            .iter()
                            .map(|p| format!("{}={}", p.key.name, quote(&p.value)))
                            .collect();
                        format!("{}({})", t.name.name, ps.join(", "))
                    }
                })
                .collect();
            format!("{kw} {}", targets.join(", "))
        }
        Item::Rule(r) => {
            let mut s = atom(&r.head);
            match r.time {
                Some(TimeSuffix::Next(_)) => s.push_str("@next"),
                Some(TimeSuffix::Async(_)) => s.push_str("@async"),
                None => {}
            }
            if !r.body.is_empty() {
                let body: Vec<String> = r.body.iter().map(literal).collect();
                s.push_str(" :- ");
                s.push_str(&body.join(", "));
            }
            s.push('.');
            s
        }
        Item::Type(t) => match &t.def {
            TypeDef::Subtype(base) => format!(".type {} <: {}", t.name.name, base.name),
            TypeDef::Union(ms) => {
                let ms: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
                format!(".type {} = {}", t.name.name, ms.join(" | "))
            }
            TypeDef::Record(fs) => format!(".type {} = [{}]", t.name.name, fields(fs)),
            TypeDef::Adt(bs) => {
                let bs: Vec<String> = bs
                    .iter()
                    .map(|b| format!("{} {{{}}}", b.name.name, fields(&b.fields)))
                    .collect();
                format!(".type {} = {}", t.name.name, bs.join(" | "))
            }
        },
    }
}

/// The program printed back, one item a line.
pub fn program(p: &Program) -> String {
    p.items.iter().map(|i| item(i) + "\n").collect()
}

/// Every span in the tree.
pub fn spans(p: &Program) -> Vec<Span> {
    let mut out = Vec::new();
    for i in &p.items {
        match i {
            Item::Decl(d) => {
                out.push(d.span);
                out.push(d.name.span);
                for p in &d.params {
                    out.push(p.name.span);
                    out.push(p.ty.span);
                }
                out.extend(d.qualifiers.iter().map(|q| q.span));
            }
            Item::Directive(d) => {
                out.push(d.span);
                out.push(d.kind_span);
                for t in &d.targets {
                    out.push(t.name.span);
                    for p in &t.params {
                        out.push(p.key.span);
                        out.push(p.value_span);
                    }
                }
            }
            Item::Type(t) => {
                out.push(t.span);
                out.push(t.name.span);
                match &t.def {
                    TypeDef::Subtype(b) => out.push(b.span),
                    TypeDef::Union(ms) => out.extend(ms.iter().map(|m| m.span)),
                    TypeDef::Record(fs) => {
                        out.extend(fs.iter().flat_map(|f| [f.name.span, f.ty.span]));
                    }
                    TypeDef::Adt(bs) => {
                        for b in bs {
                            out.push(b.span);
                            out.push(b.name.span);
                            out.extend(b.fields.iter().flat_map(|f| [f.name.span, f.ty.span]));
                        }
                    }
                }
            }
            Item::Rule(r) => {
                out.push(r.span);
                atom_spans(&r.head, &mut out);
                if let Some(t) = r.time {
                    out.push(t.span());
                }
                for l in &r.body {
                    literal_spans(l, &mut out);
                }
            }
        }
    }
    out
}

fn atom_spans(a: &Atom, out: &mut Vec<Span>) {
    out.push(a.span);
    out.push(a.name.span);
    for arg in &a.args {
        out.push(arg.span);
        expr_spans(&arg.expr, out);
    }
}

fn literal_spans(l: &Literal, out: &mut Vec<Span>) {
    out.push(l.span());
    match l {
        Literal::Atom(a) | Literal::Negated { atom: a, .. } => atom_spans(a, out),
        Literal::Compare { lhs, rhs, .. } => {
            expr_spans(lhs, out);
            expr_spans(rhs, out);
        }
    }
}

fn expr_spans(e: &Expr, out: &mut Vec<Span>) {
    out.push(e.span());
    match e {
        Expr::Neg(inner, _) => expr_spans(inner, out),
        Expr::Binary { lhs, rhs, .. } => {
            expr_spans(lhs, out);
            expr_spans(rhs, out);
        }
        Expr::Call { args, .. } | Expr::Record(args, _) => {
            for a in args {
                expr_spans(a, out);
            }
        }
        Expr::Branch(c) => {
            for a in &c.args {
                expr_spans(a, out);
            }
        }
        Expr::Aggregate(a) => {
            out.push(a.func_span);
            if let Some(t) = &a.target {
                expr_spans(t, out);
            }
            for l in &a.body {
                literal_spans(l, out);
            }
        }
        _ => {}
    }
}
