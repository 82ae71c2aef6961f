//! Macro definitions and their expansion, as the C preprocessor does it: object-like and
//! function-like macros, arguments expanded before substitution, `#` (stringizing) and `##`
//! (pasting), a macro not expanded again inside its own expansion, `__LINE__` and `__FILE__`.
//! Expansion is bounded in depth and in the number of tokens it produces.

use std::collections::HashMap;

use super::tokens::{Kind, PTok, is_ident_char, is_ident_start};

/// Deepest nesting of macro expansions (a macro's body or argument expanding another).
pub(super) const MAX_EXPANSION_DEPTH: usize = 200;

/// A defined macro.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Macro {
    /// The parameters of a function-like macro (`...` last for a variadic one); `None` for an
    /// object-like macro.
    pub params: Option<Vec<String>>,
    /// The replacement tokens, blanks at either end removed.
    pub body: Vec<PTok>,
}

/// What `__LINE__` and `__FILE__` expand to where an expansion starts.
pub(super) struct Here<'a> {
    pub line: usize,
    pub file: &'a str,
}

/// Why an expansion failed, and the macros being expanded (outermost first).
#[derive(Debug)]
pub(super) struct ExpandError {
    pub message: String,
    pub chain: Vec<String>,
}

/// The defined macros.
#[derive(Debug, Default)]
pub(super) struct Macros {
    map: HashMap<String, Macro>,
}

/// The state of one expansion: the macros being expanded and the tokens left to produce.
pub(super) struct Expander<'a> {
    macros: &'a Macros,
    here: Here<'a>,
    active: Vec<String>,
    budget: usize,
    depth: usize,
}

impl Macros {
    pub fn get(&self, name: &str) -> Option<&Macro> {
        self.map.get(name)
    }

    pub fn is_defined(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Defines `name`; returns the definition it replaces.
    pub fn define(&mut self, name: &str, m: Macro) -> Option<Macro> {
        self.map.insert(name.to_string(), m)
    }

    pub fn undefine(&mut self, name: &str) {
        self.map.remove(name);
    }

    /// Whether `name` starts an expansion: a macro, or `__LINE__`/`__FILE__`.
    pub fn expands(&self, name: &str) -> bool {
        name == "__LINE__" || name == "__FILE__" || self.map.contains_key(name)
    }

    /// An expander producing at most `budget` tokens.
    pub fn expander<'a>(&'a self, here: Here<'a>, budget: usize) -> Expander<'a> {
        Expander {
            macros: self,
            here,
            active: Vec::new(),
            budget,
            depth: 0,
        }
    }
}

/// `1` for a `(`, `-1` for a `)`, `0` for any other token.
pub(super) fn paren(kind: Kind, text: &str) -> i32 {
    match (kind, text) {
        (Kind::Punct, "(") => 1,
        (Kind::Punct, ")") => -1,
        _ => 0,
    }
}

/// The index of the `)` closing the `(` at `open`, counting nested parentheses; `paren` tells
/// what a token is (see [`paren`]).
pub(super) fn closing_paren<T>(
    toks: &[T],
    open: usize,
    paren: impl Fn(&T) -> i32,
) -> Option<usize> {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match paren(t) {
            1 => depth += 1,
            -1 => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// The index of the first token at or after `from` that is not a blank.
pub(super) fn skip_blanks(toks: &[PTok], from: usize) -> usize {
    let mut i = from;
    while i < toks.len() && toks[i].kind == Kind::Space {
        i += 1;
    }
    i
}

fn trim(toks: &[PTok]) -> Vec<PTok> {
    let start = skip_blanks(toks, 0);
    let mut end = toks.len();
    while end > start && toks[end - 1].kind == Kind::Space {
        end -= 1;
    }
    toks[start..end].to_vec()
}

/// The arguments between the parentheses at `open` and `close`, split at top-level commas.
fn split_args(toks: &[PTok], open: usize, close: usize) -> Vec<Vec<PTok>> {
    let mut args = vec![Vec::new()];
    let mut depth = 0usize;
    for t in &toks[open + 1..close] {
        if t.kind == Kind::Punct {
            match t.text.as_str() {
                "(" => depth += 1,
                ")" => depth = depth.saturating_sub(1),
                "," if depth == 0 => {
                    args.push(Vec::new());
                    continue;
                }
                _ => {}
            }
        }
        if let Some(last) = args.last_mut() {
            last.push(t.clone());
        }
    }
    args.into_iter().map(|a| trim(&a)).collect()
}

/// `#arg`: the argument's text as a string literal.
fn stringize(arg: &[PTok]) -> PTok {
    let mut s = String::from("\"");
    for t in arg {
        if t.kind == Kind::Space {
            if !s.ends_with(' ') {
                s.push(' ');
            }
            continue;
        }
        if t.kind == Kind::Str {
            for c in t.text.chars() {
                if c == '"' || c == '\\' {
                    s.push('\\');
                }
                s.push(c);
            }
        } else {
            s.push_str(&t.text);
        }
    }
    s.push('"');
    PTok::new(Kind::Str, s)
}

/// The token `a ## b` makes.
fn paste(a: &PTok, b: &PTok) -> PTok {
    let text = format!("{}{}", a.text, b.text);
    let kind = match text.chars().next() {
        Some(c) if is_ident_start(c) && text.chars().all(is_ident_char) => Kind::Ident,
        Some(c) if c.is_ascii_digit() => Kind::Number,
        _ => Kind::Punct,
    };
    PTok::new(kind, text)
}

impl Expander<'_> {
    fn error(&self, message: String) -> ExpandError {
        ExpandError {
            message,
            chain: self.active.clone(),
        }
    }

    fn spend(&mut self, n: usize) -> Result<(), ExpandError> {
        match self.budget.checked_sub(n) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(self.error(
                "macro expansion produces too much text (a runaway or exponential expansion?)"
                    .to_string(),
            )),
        }
    }

    /// Expands every macro in `toks`.
    pub fn expand(&mut self, toks: &[PTok]) -> Result<Vec<PTok>, ExpandError> {
        if self.depth >= MAX_EXPANSION_DEPTH {
            return Err(self.error(format!(
                "macro expansion nested more than {MAX_EXPANSION_DEPTH} levels deep"
            )));
        }
        self.depth += 1;
        let result = self.expand_here(toks);
        self.depth -= 1;
        result
    }

    fn expand_here(&mut self, toks: &[PTok]) -> Result<Vec<PTok>, ExpandError> {
        let macros = self.macros;
        let mut out = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            if t.kind == Kind::Ident {
                if t.text == "__LINE__" {
                    out.push(PTok::new(Kind::Number, self.here.line.to_string()));
                    i += 1;
                    continue;
                }
                if t.text == "__FILE__" {
                    out.push(stringize(&[PTok::new(Kind::Ident, self.here.file)]));
                    i += 1;
                    continue;
                }
                if let Some(m) = macros.get(&t.text)
                    && !self.active.contains(&t.text)
                {
                    let (args, next) = match &m.params {
                        None => (Vec::new(), i + 1),
                        Some(_) => {
                            let open = skip_blanks(toks, i + 1);
                            if !toks.get(open).is_some_and(|o| o.is(Kind::Punct, "(")) {
                                // A function-like macro's name without arguments is left alone.
                                out.push(t.clone());
                                i += 1;
                                continue;
                            }
                            let close = closing_paren(toks, open, |p| paren(p.kind, &p.text))
                                .ok_or_else(|| {
                                    self.error(format!(
                                        "the arguments of macro `{}` are not closed with `)`",
                                        t.text
                                    ))
                                })?;
                            (split_args(toks, open, close), close + 1)
                        }
                    };
                    let replaced = self.substitute(&t.text, m, args)?;
                    self.active.push(t.text.clone());
                    let expanded = self.expand(&replaced)?;
                    self.active.pop();
                    self.spend(expanded.len())?;
                    out.extend(expanded);
                    i = next;
                    continue;
                }
            }
            self.spend(1)?;
            out.push(t.clone());
            i += 1;
        }
        Ok(out)
    }

    /// The body of `m` with its parameters replaced by `args`, `#` and `##` applied.
    fn substitute(
        &mut self,
        name: &str,
        m: &Macro,
        mut args: Vec<Vec<PTok>>,
    ) -> Result<Vec<PTok>, ExpandError> {
        let params: &[String] = m.params.as_deref().unwrap_or(&[]);
        let variadic = params.last().is_some_and(|p| p == "...");
        if params.is_empty() && args.len() == 1 && args[0].is_empty() {
            args.clear(); // `F()` passes no argument
        }
        if variadic && args.len() >= params.len() {
            let rest = args.split_off(params.len() - 1);
            let mut joined = Vec::new();
            for (k, a) in rest.into_iter().enumerate() {
                if k > 0 {
                    joined.push(PTok::new(Kind::Punct, ","));
                }
                joined.extend(a);
            }
            args.push(joined);
        } else if variadic && args.len() + 1 == params.len() {
            args.push(Vec::new());
        }
        if m.params.is_some() && args.len() != params.len() {
            return Err(self.error(format!(
                "macro `{name}` takes {} argument{}, {} given",
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                args.len()
            )));
        }
        let param = |t: &PTok| -> Option<usize> {
            if t.kind != Kind::Ident {
                return None;
            }
            let key = if t.text == "__VA_ARGS__" {
                "..."
            } else {
                t.text.as_str()
            };
            params.iter().position(|p| p == key)
        };
        let body = &m.body;
        let next_is_paste = |k: usize| {
            body.get(skip_blanks(body, k + 1))
                .is_some_and(|t| t.is(Kind::Punct, "##"))
        };
        let mut out: Vec<PTok> = Vec::with_capacity(body.len());
        let mut pastes = Vec::new(); // indexes in `out` of `##` tokens written by the body
        let mut prev_paste = false;
        let mut k = 0;
        while k < body.len() {
            let t = &body[k];
            if m.params.is_some() && t.is(Kind::Punct, "#") {
                let n = skip_blanks(body, k + 1);
                if let Some(p) = body.get(n).and_then(param) {
                    out.push(stringize(&args[p]));
                    prev_paste = false;
                    k = n + 1;
                    continue;
                }
            }
            if let Some(p) = param(t) {
                if prev_paste || next_is_paste(k) {
                    out.extend(args[p].iter().cloned());
                } else {
                    let expanded = self.expand(&args[p])?;
                    out.extend(expanded);
                }
                self.spend(args[p].len())?;
            } else {
                if t.is(Kind::Punct, "##") {
                    pastes.push(out.len());
                }
                out.push(t.clone());
            }
            if t.kind != Kind::Space {
                prev_paste = t.is(Kind::Punct, "##");
            }
            k += 1;
        }
        if pastes.is_empty() {
            return Ok(out);
        }
        // Join the tokens on either side of each `##` the body wrote.
        let mut pasted: Vec<PTok> = Vec::with_capacity(out.len());
        let mut k = 0;
        while k < out.len() {
            if pastes.binary_search(&k).is_ok() {
                while pasted.last().is_some_and(|t| t.kind == Kind::Space) {
                    pasted.pop();
                }
                let n = skip_blanks(&out, k + 1);
                match (pasted.pop(), out.get(n)) {
                    (Some(a), Some(b)) => pasted.push(paste(&a, b)),
                    (Some(a), None) => pasted.push(a),
                    (None, Some(b)) => pasted.push(b.clone()),
                    (None, None) => {}
                }
                k = n + 1;
                continue;
            }
            pasted.push(out[k].clone());
            k += 1;
        }
        Ok(pasted)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tokens::{owned, render, tokenize};
    use super::*;

    fn toks(text: &str) -> Vec<PTok> {
        owned(text, &tokenize(text, 0, text.len()))
    }

    fn define(m: &mut Macros, name: &str, params: Option<&[&str]>, body: &str) {
        let body = trim(&toks(body));
        let params = params.map(|p| p.iter().map(|s| s.to_string()).collect());
        m.define(name, Macro { params, body });
    }

    fn expand(m: &Macros, text: &str) -> Result<String, ExpandError> {
        let here = Here {
            line: 7,
            file: "a.dl",
        };
        m.expander(here, 10_000)
            .expand(&toks(text))
            .map(|t| render(&t))
    }

    #[test]
    fn expands_object_and_function_macros() {
        let mut m = Macros::default();
        define(&mut m, "N", None, "(1 + 2)");
        define(&mut m, "ADD", Some(&["a", "b"]), "a + b * N");
        define(
            &mut m,
            "sym",
            Some(&["op"]),
            ".decl sym_##op(x: symbol) #op",
        );
        define(&mut m, "V", Some(&["x", "..."]), "f(x, __VA_ARGS__)");
        assert_eq!(expand(&m, "p(N).").unwrap(), "p((1 + 2)).");
        assert_eq!(
            expand(&m, "ADD(N, g(1, 2))").unwrap(),
            "(1 + 2) + g(1, 2) * (1 + 2)"
        );
        assert_eq!(
            expand(&m, "sym(max)").unwrap(),
            ".decl sym_max(x: symbol) \"max\""
        );
        assert_eq!(expand(&m, "V(1, 2, 3)").unwrap(), "f(1, 2,3)");
        assert_eq!(expand(&m, "ADD + x").unwrap(), "ADD + x");
        assert_eq!(expand(&m, "__LINE__ __FILE__").unwrap(), "7 \"a.dl\"");
    }

    #[test]
    fn a_macro_is_not_expanded_inside_itself() {
        let mut m = Macros::default();
        define(&mut m, "A", None, "B + A");
        define(&mut m, "B", None, "A * 2");
        assert_eq!(expand(&m, "A").unwrap(), "A * 2 + A");
    }

    #[test]
    fn bad_invocations_and_runaway_expansions_are_errors() {
        let mut m = Macros::default();
        define(&mut m, "F", Some(&["a", "b"]), "a b");
        let e = expand(&m, "F(1)").unwrap_err();
        assert_eq!(e.message, "macro `F` takes 2 arguments, 1 given");
        assert!(
            expand(&m, "F(1, (2)")
                .unwrap_err()
                .message
                .contains("not closed")
        );
        // Each level doubles: 2^40 tokens would be produced.
        for k in 0..40 {
            define(
                &mut m,
                &format!("X{k}"),
                None,
                &format!("X{} X{}", k + 1, k + 1),
            );
        }
        let e = expand(&m, "X0").unwrap_err();
        assert!(e.message.contains("too much text"), "{}", e.message);
        assert_eq!(e.chain.first().map(String::as_str), Some("X0"));
    }
}
