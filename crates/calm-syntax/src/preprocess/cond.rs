//! `#if` and `#elif` conditions: C's integer constant expressions (numbers, `( )`, unary
//! `! ~ - +`, binary `* / % + - << >> < > <= >= == != & ^ | && ||` and `? :`) over tokens in
//! which `defined` and the macros have already been replaced.

use super::tokens::{Kind, PTok};

/// Deepest nesting of parentheses and unary operators in a condition.
const MAX_DEPTH: usize = 256;

/// The value of a condition; an identifier left after expansion counts as 0, as in C.
pub(super) fn evaluate(toks: &[PTok]) -> Result<i64, String> {
    let toks: Vec<&PTok> = toks.iter().filter(|t| t.kind != Kind::Space).collect();
    if toks.is_empty() {
        return Err("the condition is empty".to_string());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let v = p.ternary()?;
    match p.toks.get(p.pos) {
        None => Ok(v),
        Some(t) => Err(format!("unexpected `{}` in the condition", t.text)),
    }
}

struct Parser<'a> {
    toks: Vec<&'a PTok>,
    pos: usize,
    depth: usize,
}

/// Binary operators by precedence, loosest first.
const LEVELS: [&[&str]; 10] = [
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<", ">", "<=", ">="],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks
            .get(self.pos)
            .filter(|t| t.kind == Kind::Punct)
            .map(|t| t.text.as_str())
    }

    fn ternary(&mut self) -> Result<i64, String> {
        let c = self.binary(0)?;
        if self.peek() != Some("?") {
            return Ok(c);
        }
        self.pos += 1;
        self.descend()?;
        let a = self.ternary()?;
        if self.peek() != Some(":") {
            return Err("expected `:` in `? :`".to_string());
        }
        self.pos += 1;
        let b = self.ternary()?;
        self.depth -= 1;
        Ok(if c != 0 { a } else { b })
    }

    fn descend(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the condition is nested too deeply".to_string());
        }
        Ok(())
    }

    fn binary(&mut self, level: usize) -> Result<i64, String> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut v = self.binary(level + 1)?;
        while let Some(op) = self.peek().filter(|op| LEVELS[level].contains(op)) {
            let op = op.to_string();
            self.pos += 1;
            let w = self.binary(level + 1)?;
            v = apply(&op, v, w)?;
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<i64, String> {
        let Some(t) = self.toks.get(self.pos).copied() else {
            return Err("the condition ends too early".to_string());
        };
        self.pos += 1;
        match (t.kind, t.text.as_str()) {
            (Kind::Number, text) => number(text),
            (Kind::Ident, _) => Ok(0),
            (Kind::Punct, op @ ("!" | "~" | "-" | "+")) => {
                self.descend()?;
                let v = self.unary()?;
                self.depth -= 1;
                Ok(match op {
                    "!" => i64::from(v == 0),
                    "~" => !v,
                    "-" => v.wrapping_neg(),
                    _ => v,
                })
            }
            (Kind::Punct, "(") => {
                self.descend()?;
                let v = self.ternary()?;
                self.depth -= 1;
                if self.peek() != Some(")") {
                    return Err("expected `)` in the condition".to_string());
                }
                self.pos += 1;
                Ok(v)
            }
            (_, text) => Err(format!("unexpected `{text}` in the condition")),
        }
    }
}

fn apply(op: &str, a: i64, b: i64) -> Result<i64, String> {
    Ok(match op {
        "||" => i64::from(a != 0 || b != 0),
        "&&" => i64::from(a != 0 && b != 0),
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => i64::from(a == b),
        "!=" => i64::from(a != b),
        "<" => i64::from(a < b),
        ">" => i64::from(a > b),
        "<=" => i64::from(a <= b),
        ">=" => i64::from(a >= b),
        "<<" => a.wrapping_shl((b & 63) as u32),
        ">>" => a.wrapping_shr((b & 63) as u32),
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" | "%" if b == 0 => return Err("division by zero in the condition".to_string()),
        "/" => a.wrapping_div(b),
        _ => a.wrapping_rem(b),
    })
}

/// A C integer literal: decimal, `0x` hexadecimal, `0b` binary or `0` octal, with `u`/`l`
/// suffixes.
fn number(text: &str) -> Result<i64, String> {
    let t = text.trim_end_matches(['u', 'U', 'l', 'L']);
    let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        u64::from_str_radix(b, 2)
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8)
    } else {
        t.parse::<u64>()
    };
    parsed
        .map(|v| v as i64)
        .map_err(|_| format!("`{text}` is not an integer"))
}

#[cfg(test)]
mod tests {
    use super::super::tokens::{owned, tokenize};
    use super::*;

    fn eval(text: &str) -> Result<i64, String> {
        evaluate(&owned(text, &tokenize(text, 0, text.len())))
    }

    #[test]
    fn evaluates_with_c_precedence() {
        assert_eq!(eval("1 + 2 * 3 == 7"), Ok(1));
        assert_eq!(eval("(1 + 2) * 3"), Ok(9));
        assert_eq!(eval("64 == 32 || !0 && 0x10 > 010"), Ok(1));
        assert_eq!(eval("UNDEFINED"), Ok(0));
        assert_eq!(eval("1 ? 2 : 3"), Ok(2));
        assert_eq!(eval("-1 < 0"), Ok(1));
        assert_eq!(eval("1 << 4 >> 2"), Ok(4));
    }

    #[test]
    fn rejects_malformed_conditions() {
        assert!(eval("").is_err());
        assert!(eval("1 +").is_err());
        assert!(eval("(1").is_err());
        assert!(eval("1 / 0").unwrap_err().contains("division by zero"));
        assert!(eval("\"s\"").is_err());
        assert!(eval("12abc").is_err());
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(eval(&deep).unwrap_err().contains("too deeply"));
        let deep = format!("{}1", "!".repeat(10_000));
        assert!(eval(&deep).unwrap_err().contains("too deeply"));
    }
}
