//! What Souffle's arithmetic operators and built-in functors compute: one definition, used by
//! constant folding here and by both evaluators of `calm-engine`.
//!
//! Arithmetic is checked 64-bit (overflow is an error, never a wrapped value); bit operations
//! work on the two's-complement bits, with shift amounts taken modulo 64 as Souffle takes them
//! modulo its word size. String functors count and index bytes, as Souffle does.

use calm_syntax::ast::{BinOp, Functor};
use std::borrow::Cow;

use crate::ir::Type;

/// The longest symbol a functor (`cat`, `to_string`, ...) may build, in bytes.
pub const MAX_SYMBOL_LEN: usize = 1 << 20;

/// A functor's argument or result: a number or a symbol's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FVal<'a> {
    /// A number.
    Num(i64),
    /// A symbol.
    Str(Cow<'a, str>),
}

impl FVal<'_> {
    fn num(&self) -> Result<i64, &'static str> {
        match self {
            FVal::Num(n) => Ok(*n),
            FVal::Str(_) => Err("a functor got a symbol where it needs a number"),
        }
    }

    fn text(&self) -> Result<&str, &'static str> {
        match self {
            FVal::Str(s) => Ok(s),
            FVal::Num(_) => Err("a functor got a number where it needs a symbol"),
        }
    }
}

/// `x op y`, checked: division or remainder by zero and overflow are errors.
#[inline]
pub fn arith(op: BinOp, x: i64, y: i64) -> Result<i64, &'static str> {
    let r = match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::Div if y == 0 => return Err("division by zero"),
        BinOp::Rem if y == 0 => return Err("remainder by zero"),
        BinOp::Div => x.checked_div(y),
        BinOp::Rem => x.checked_rem(y),
        BinOp::Pow => return pow(x, y),
        BinOp::Band => Some(x & y),
        BinOp::Bor => Some(x | y),
        BinOp::Bxor => Some(x ^ y),
        BinOp::Bshl => Some(((x as u64) << (y & 63)) as i64),
        BinOp::Bshr => Some(x >> (y & 63)),
        BinOp::Bshru => Some(((x as u64) >> (y & 63)) as i64),
        BinOp::Land => Some(i64::from(x != 0 && y != 0)),
        BinOp::Lor => Some(i64::from(x != 0 || y != 0)),
        BinOp::Lxor => Some(i64::from((x != 0) != (y != 0))),
    };
    r.ok_or("arithmetic overflow")
}

/// `x ^ y` over integers: a negative exponent gives the integer part of the fraction (0, or
/// ±1 for a base of ±1); zero to a negative power is an error.
fn pow(x: i64, y: i64) -> Result<i64, &'static str> {
    if y < 0 {
        return match x {
            0 => Err("zero to a negative power"),
            1 => Ok(1),
            -1 => Ok(if y % 2 == 0 { 1 } else { -1 }),
            _ => Ok(0),
        };
    }
    match x {
        0 | 1 => Ok(if y == 0 { 1 } else { x }),
        -1 => Ok(if y % 2 == 0 { 1 } else { -1 }),
        _ => u32::try_from(y)
            .ok()
            .and_then(|y| x.checked_pow(y))
            .ok_or("arithmetic overflow"),
    }
}

/// The type of a functor's result.
pub fn result_type(f: Functor) -> Type {
    match f {
        Functor::Cat | Functor::Substr | Functor::ToString => Type::Symbol,
        _ => Type::Number,
    }
}

/// The type of a functor's argument `i`.
pub fn arg_type(f: Functor, i: usize) -> Type {
    match (f, i) {
        (Functor::Cat | Functor::Strlen | Functor::ToNumber, _) | (Functor::Substr, 0) => {
            Type::Symbol
        }
        _ => Type::Number,
    }
}

/// Whether a call can fail at run time (for well-typed arguments).
pub fn can_fail(f: Functor) -> bool {
    matches!(f, Functor::Cat | Functor::Substr | Functor::ToNumber)
}

/// Applies functor `f` to its arguments (of the types [`arg_type`] gives).
pub fn call(f: Functor, args: &[FVal<'_>]) -> Result<FVal<'static>, &'static str> {
    let arg = |i: usize| args.get(i).ok_or("a functor got too few arguments");
    Ok(match f {
        Functor::Cat => {
            let mut out = String::new();
            for a in args {
                let t = a.text()?;
                if out.len() + t.len() > MAX_SYMBOL_LEN {
                    return Err("`cat` would build a symbol longer than 1 MiB");
                }
                out.push_str(t);
            }
            FVal::Str(Cow::Owned(out))
        }
        Functor::Strlen => FVal::Num(arg(0)?.text()?.len() as i64),
        Functor::Substr => {
            let s = arg(0)?.text()?;
            let (i, n) = (arg(1)?.num()?, arg(2)?.num()?);
            let start = usize::try_from(i)
                .ok()
                .filter(|&i| i <= s.len())
                .ok_or("`substr` index outside the symbol")?;
            let n = usize::try_from(n).map_err(|_| "`substr` with a negative length")?;
            let end = start.saturating_add(n).min(s.len());
            let sub = s
                .get(start..end)
                .ok_or("`substr` would split a UTF-8 character")?;
            FVal::Str(Cow::Owned(sub.to_owned()))
        }
        Functor::ToNumber => {
            let t = arg(0)?.text()?;
            FVal::Num(
                t.parse::<i64>()
                    .map_err(|_| "`to_number` of a symbol that is not a number")?,
            )
        }
        Functor::ToString => FVal::Str(Cow::Owned(arg(0)?.num()?.to_string())),
        Functor::Min | Functor::Max => {
            let mut best = arg(0)?.num()?;
            for a in &args[1..] {
                let v = a.num()?;
                best = if f == Functor::Min {
                    best.min(v)
                } else {
                    best.max(v)
                };
            }
            FVal::Num(best)
        }
        Functor::Bnot => FVal::Num(!arg(0)?.num()?),
        Functor::Lnot => FVal::Num(i64::from(arg(0)?.num()? == 0)),
        Functor::Range => {
            return Err("`range` gives several values: bind it with `x = range(a, b)`");
        }
    })
}

/// The step of `range(from, to[, step])` as Souffle takes it: the given one, or 1 upwards and
/// -1 downwards.
fn range_step(from: i64, to: i64, step: Option<i64>) -> i64 {
    step.unwrap_or(if from <= to { 1 } else { -1 })
}

/// Calls `f` with each value of `range(from, to[, step])`, in order, until it returns false:
/// `from`, `from + step`, ... while short of `to` (upwards for a positive step, downwards for a
/// negative one); a step of 0 gives `from` alone, unless `from = to`. Stops before a value that
/// would overflow.
pub fn range(from: i64, to: i64, step: Option<i64>, f: &mut dyn FnMut(i64) -> bool) {
    let step = range_step(from, to, step);
    let mut x = from;
    if step == 0 {
        if from != to {
            f(from);
        }
        return;
    }
    while (step > 0 && x < to) || (step < 0 && x > to) {
        if !f(x) {
            return;
        }
        match x.checked_add(step) {
            Some(n) => x = n,
            None => return,
        }
    }
}

/// Whether `x` is a value of `range(from, to[, step])` (see [`range`]), without enumerating it.
pub fn in_range(from: i64, to: i64, step: Option<i64>, x: i64) -> bool {
    let step = range_step(from, to, step);
    let (from, to, x, step) = (
        i128::from(from),
        i128::from(to),
        i128::from(x),
        i128::from(step),
    );
    match step.signum() {
        0 => from != to && x == from,
        1 => from <= x && x < to && (x - from) % step == 0,
        _ => to < x && x <= from && (from - x) % (-step) == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> FVal<'_> {
        FVal::Str(Cow::Borrowed(t))
    }

    fn values(from: i64, to: i64, step: Option<i64>) -> Vec<i64> {
        let mut out = Vec::new();
        range(from, to, step, &mut |x| {
            out.push(x);
            true
        });
        out
    }

    #[test]
    fn ranges() {
        assert_eq!(values(1, 5, None), [1, 2, 3, 4]);
        assert_eq!(values(5, 1, None), [5, 4, 3, 2]);
        assert_eq!(values(5, 1, Some(-2)), [5, 3]);
        assert_eq!(values(9, 0, Some(1)), Vec::<i64>::new());
        assert_eq!(values(1, 5, Some(0)), [1]);
        assert_eq!(values(5, 5, Some(0)), Vec::<i64>::new());
        assert_eq!(values(5, 5, None), Vec::<i64>::new());
        assert_eq!(values(i64::MAX - 1, i64::MAX, Some(5)), [i64::MAX - 1]);
        assert_eq!(
            values(i64::MIN + 3, i64::MIN, Some(-2)),
            [i64::MIN + 3, i64::MIN + 1]
        );
        for (from, to, step) in [
            (1, 5, None),
            (5, 1, None),
            (-3, 10, Some(4)),
            (10, -3, Some(-3)),
            (2, 8, Some(0)),
            (4, 4, Some(0)),
            (0, 3, Some(-1)),
        ] {
            let vals = values(from, to, step);
            for x in -12..12 {
                assert_eq!(
                    in_range(from, to, step, x),
                    vals.contains(&x),
                    "{from} {to} {step:?} {x}"
                );
            }
        }
    }

    #[test]
    fn operators() {
        assert_eq!(arith(BinOp::Pow, 2, 10), Ok(1024));
        assert_eq!(arith(BinOp::Pow, -2, 3), Ok(-8));
        assert_eq!(arith(BinOp::Pow, 7, 0), Ok(1));
        assert_eq!(arith(BinOp::Pow, 2, -1), Ok(0));
        assert_eq!(arith(BinOp::Pow, -1, -3), Ok(-1));
        assert!(arith(BinOp::Pow, 0, -1).is_err());
        assert!(arith(BinOp::Pow, 2, 63).is_err());
        assert!(arith(BinOp::Pow, 3, 1 << 40).is_err());
        assert_eq!(arith(BinOp::Band, 12, 10), Ok(8));
        assert_eq!(arith(BinOp::Bor, 12, 10), Ok(14));
        assert_eq!(arith(BinOp::Bxor, 12, 10), Ok(6));
        assert_eq!(arith(BinOp::Bshl, 1, 4), Ok(16));
        assert_eq!(arith(BinOp::Bshl, 1, 68), Ok(16));
        assert_eq!(arith(BinOp::Bshr, -16, 2), Ok(-4));
        assert_eq!(arith(BinOp::Bshru, -1, 60), Ok(15));
        assert_eq!(arith(BinOp::Land, 3, 0), Ok(0));
        assert_eq!(arith(BinOp::Lor, 3, 0), Ok(1));
        assert_eq!(arith(BinOp::Lxor, 3, 5), Ok(0));
        assert_eq!(arith(BinOp::Rem, -7, 3), Ok(-1));
        assert!(arith(BinOp::Rem, 1, 0).is_err());
    }

    #[test]
    fn functors() {
        assert_eq!(
            call(Functor::Cat, &[s("ab"), s(""), s("c")]),
            Ok(FVal::Str("abc".into()))
        );
        assert_eq!(call(Functor::Strlen, &[s("héllo")]), Ok(FVal::Num(6)));
        let sub = |t, i, n| call(Functor::Substr, &[s(t), FVal::Num(i), FVal::Num(n)]);
        assert_eq!(sub("hello", 1, 3), Ok(FVal::Str("ell".into())));
        assert_eq!(sub("hello", 3, 10), Ok(FVal::Str("lo".into())));
        assert_eq!(sub("hello", 5, 1), Ok(FVal::Str("".into())));
        assert!(sub("hello", 6, 1).is_err());
        assert!(sub("hello", -1, 1).is_err());
        assert!(sub("hello", 0, -1).is_err());
        assert!(sub("héllo", 0, 2).is_err());
        assert_eq!(call(Functor::ToNumber, &[s("-42")]), Ok(FVal::Num(-42)));
        assert!(call(Functor::ToNumber, &[s("4x")]).is_err());
        assert_eq!(
            call(Functor::ToString, &[FVal::Num(-7)]),
            Ok(FVal::Str("-7".into()))
        );
        let nums = [FVal::Num(3), FVal::Num(-1), FVal::Num(2)];
        assert_eq!(call(Functor::Min, &nums), Ok(FVal::Num(-1)));
        assert_eq!(call(Functor::Max, &nums), Ok(FVal::Num(3)));
        assert_eq!(call(Functor::Bnot, &[FVal::Num(0)]), Ok(FVal::Num(-1)));
        assert_eq!(call(Functor::Lnot, &[FVal::Num(0)]), Ok(FVal::Num(1)));
        assert_eq!(call(Functor::Lnot, &[FVal::Num(9)]), Ok(FVal::Num(0)));
        let big = "x".repeat(MAX_SYMBOL_LEN);
        assert!(call(Functor::Cat, &[s(&big), s("y")]).is_err());
    }
}
