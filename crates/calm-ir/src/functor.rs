//! What Souffle's arithmetic operators and built-in functors compute: one definition, used by
//! constant folding here and by both evaluators of `calm-engine`.
//!
//! Arithmetic is checked 64-bit (overflow is an error, never a wrapped value); bit operations
//! work on the two's-complement bits, with shift amounts taken modulo 64 as Souffle takes them
//! modulo its word size. String functors count and index bytes, as Souffle does.

use calm_syntax::ast::{BinOp, Functor};
use std::borrow::Cow;

use crate::ir::Type;
use crate::number;
use std::cmp::Ordering;

/// The longest symbol a functor (`cat`, `to_string`, ...) may build, in bytes.
pub const MAX_SYMBOL_LEN: usize = 1 << 20;

/// A functor's argument or result.
#[derive(Clone, Debug, PartialEq)]
pub enum FVal<'a> {
    /// A number.
    Num(i64),
    /// An unsigned.
    Unsigned(u64),
    /// A float.
    Float(f64),
    /// A symbol.
    Str(Cow<'a, str>),
}

impl FVal<'_> {
    fn num(&self) -> Result<i64, &'static str> {
        match self {
            FVal::Num(n) => Ok(*n),
            _ => Err("a functor got another value where it needs a number"),
        }
    }

    fn text(&self) -> Result<&str, &'static str> {
        match self {
            FVal::Str(s) => Ok(s),
            _ => Err("a functor got a number where it needs a symbol"),
        }
    }

    /// The value of type `ty` whose bits (as the engine stores numbers) are `bits`.
    pub fn from_bits(ty: Type, bits: i64) -> FVal<'static> {
        match ty {
            Type::Unsigned => FVal::Unsigned(bits as u64),
            Type::Float => FVal::Float(number::float_of(bits)),
            _ => FVal::Num(bits),
        }
    }

    /// The bits of a numeric value (`None` for a symbol).
    pub fn bits(&self) -> Option<i64> {
        match self {
            FVal::Num(n) => Some(*n),
            FVal::Unsigned(u) => Some(*u as i64),
            FVal::Float(f) => Some(number::float_bits(*f)),
            FVal::Str(_) => None,
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

/// `x op y` over unsigned numbers, checked like [`arith`]: a result below zero or above
/// 2⁶⁴ - 1 is an overflow. Shifts take their amount modulo 64; `bshr` and `bshru` are both
/// logical shifts.
pub fn arith_unsigned(op: BinOp, x: u64, y: u64) -> Result<u64, &'static str> {
    let r = match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::Div if y == 0 => return Err("division by zero"),
        BinOp::Rem if y == 0 => return Err("remainder by zero"),
        BinOp::Div => Some(x / y),
        BinOp::Rem => Some(x % y),
        BinOp::Pow => match x {
            0 | 1 => Some(if y == 0 { 1 } else { x }),
            _ => u32::try_from(y).ok().and_then(|y| x.checked_pow(y)),
        },
        BinOp::Band => Some(x & y),
        BinOp::Bor => Some(x | y),
        BinOp::Bxor => Some(x ^ y),
        BinOp::Bshl => Some(x << (y & 63)),
        BinOp::Bshr | BinOp::Bshru => Some(x >> (y & 63)),
        BinOp::Land => Some(u64::from(x != 0 && y != 0)),
        BinOp::Lor => Some(u64::from(x != 0 || y != 0)),
        BinOp::Lxor => Some(u64::from((x != 0) != (y != 0))),
    };
    r.ok_or("arithmetic overflow")
}

/// `x op y` over floats, as IEEE 754 defines it (`1.0 / 0.0` is `inf`, `0.0 / 0.0` NaN);
/// `^` is `powf`. The remainder and the bit and logical operators are not defined on floats
/// (the type checker rejects them).
pub fn arith_float(op: BinOp, x: f64, y: f64) -> Result<f64, &'static str> {
    Ok(number::canonical(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
        BinOp::Pow => x.powf(y),
        _ => return Err("an integer operator applied to floats"),
    }))
}

/// `x op y` over values of type `ty` given by their bits.
#[inline]
pub fn arith_typed(ty: Type, op: BinOp, x: i64, y: i64) -> Result<i64, &'static str> {
    match ty {
        Type::Unsigned => arith_unsigned(op, x as u64, y as u64).map(|u| u as i64),
        Type::Float => {
            arith_float(op, number::float_of(x), number::float_of(y)).map(number::float_bits)
        }
        _ => arith(op, x, y),
    }
}

/// `-x` for a value of type `ty` given by its bits (unsigned numbers have no negation: the
/// type checker rejects it).
#[inline]
pub fn negate(ty: Type, x: i64) -> Result<i64, &'static str> {
    match ty {
        Type::Float => Ok(number::float_bits(-number::float_of(x))),
        Type::Unsigned => Err("an unsigned number negated"),
        _ => x.checked_neg().ok_or("arithmetic overflow"),
    }
}

/// The order of two values of type `ty` given by their bits.
#[inline]
pub fn compare(ty: Type, x: i64, y: i64) -> Ordering {
    match ty {
        Type::Unsigned => (x as u64).cmp(&(y as u64)),
        Type::Float => number::float_cmp(number::float_of(x), number::float_of(y)),
        _ => x.cmp(&y),
    }
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

/// The type of a functor's result when its arguments have types `args` (`min`, `max`,
/// `bnot` and `lnot` give the type of their arguments).
pub fn result_type(f: Functor, args: &[Type]) -> Type {
    match f {
        Functor::Cat | Functor::Substr | Functor::ToString => Type::Symbol,
        Functor::ToFloat => Type::Float,
        Functor::ToUnsigned => Type::Unsigned,
        Functor::Min | Functor::Max | Functor::Bnot | Functor::Lnot => {
            args.first().copied().unwrap_or(Type::Number)
        }
        Functor::Strlen | Functor::ToNumber | Functor::Range => Type::Number,
    }
}

/// The type of a functor's argument `i`, when the functor fixes it (`None`: the conversions
/// take any number or symbol; `min`, `max`, `bnot`, `lnot` take one numeric type for all).
pub fn arg_type(f: Functor, i: usize) -> Option<Type> {
    match (f, i) {
        (Functor::Cat | Functor::Strlen, _) | (Functor::Substr, 0) => Some(Type::Symbol),
        (Functor::Substr | Functor::Range, _) => Some(Type::Number),
        _ => None,
    }
}

/// Whether a call can fail at run time (for well-typed arguments).
pub fn can_fail(f: Functor) -> bool {
    matches!(
        f,
        Functor::Cat | Functor::Substr | Functor::ToNumber | Functor::ToFloat | Functor::ToUnsigned
    )
}

/// The integer a float truncates to (C++'s cast), when it has one.
fn float_to_int(f: f64) -> Option<i128> {
    // Every f64 in this range truncates to an i128 exactly.
    (f.is_finite() && f.abs() < 1e38).then(|| f.trunc() as i128)
}

/// Applies functor `f` to its arguments.
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
        Functor::ToNumber => FVal::Num(match arg(0)? {
            FVal::Str(t) => t
                .parse::<i64>()
                .map_err(|_| "`to_number` of a symbol that is not a number")?,
            FVal::Num(n) => *n,
            FVal::Unsigned(u) => {
                i64::try_from(*u).map_err(|_| "`to_number` of an unsigned above 2^63 - 1")?
            }
            FVal::Float(x) => float_to_int(*x)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or("`to_number` of a float outside the range of numbers (or NaN)")?,
        }),
        Functor::ToUnsigned => FVal::Unsigned(match arg(0)? {
            FVal::Str(t) => number::parse_unsigned(t)
                .ok_or("`to_unsigned` of a symbol that is not an unsigned number")?,
            FVal::Num(n) => u64::try_from(*n).map_err(|_| "`to_unsigned` of a negative number")?,
            FVal::Unsigned(u) => *u,
            FVal::Float(x) => float_to_int(*x)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or("`to_unsigned` of a float outside the range of unsigned numbers")?,
        }),
        Functor::ToFloat => FVal::Float(number::canonical(match arg(0)? {
            FVal::Str(t) => {
                number::parse_float(t).ok_or("`to_float` of a symbol that is not a number")?
            }
            FVal::Num(n) => *n as f64,
            FVal::Unsigned(u) => *u as f64,
            FVal::Float(x) => *x,
        })),
        Functor::ToString => FVal::Str(Cow::Owned(match arg(0)? {
            FVal::Str(t) => t.to_string(),
            FVal::Num(n) => n.to_string(),
            FVal::Unsigned(u) => u.to_string(),
            FVal::Float(x) => number::float_to_string(*x),
        })),
        Functor::Min | Functor::Max => {
            let mut best = arg(0)?.clone();
            for a in &args[1..] {
                let ord = match (a, &best) {
                    (FVal::Num(x), FVal::Num(y)) => x.cmp(y),
                    (FVal::Unsigned(x), FVal::Unsigned(y)) => x.cmp(y),
                    (FVal::Float(x), FVal::Float(y)) => number::float_cmp(*x, *y),
                    _ => return Err("`min` or `max` of values of different types"),
                };
                let better = if f == Functor::Min {
                    ord == Ordering::Less
                } else {
                    ord == Ordering::Greater
                };
                if better {
                    best = a.clone();
                }
            }
            match best {
                FVal::Num(n) => FVal::Num(n),
                FVal::Unsigned(u) => FVal::Unsigned(u),
                FVal::Float(x) => FVal::Float(x),
                FVal::Str(_) => return Err("`min` or `max` of symbols"),
            }
        }
        Functor::Bnot => match arg(0)? {
            FVal::Unsigned(u) => FVal::Unsigned(!u),
            a => FVal::Num(!a.num()?),
        },
        Functor::Lnot => match arg(0)? {
            FVal::Unsigned(u) => FVal::Unsigned(u64::from(*u == 0)),
            a => FVal::Num(i64::from(a.num()? == 0)),
        },
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
    fn unsigned_and_float_operators() {
        assert_eq!(arith_unsigned(BinOp::Sub, 0, 1), Err("arithmetic overflow"));
        assert_eq!(arith_unsigned(BinOp::Add, u64::MAX - 1, 1), Ok(u64::MAX));
        assert_eq!(arith_unsigned(BinOp::Div, 7, 2), Ok(3));
        assert_eq!(arith_unsigned(BinOp::Bshr, u64::MAX, 60), Ok(15));
        assert_eq!(arith_unsigned(BinOp::Bshru, u64::MAX, 124), Ok(15));
        assert_eq!(
            arith_unsigned(BinOp::Pow, 2, 64),
            Err("arithmetic overflow")
        );
        assert!(arith_unsigned(BinOp::Rem, 1, 0).is_err());
        assert_eq!(arith_float(BinOp::Div, 7.0, 2.0), Ok(3.5));
        assert_eq!(arith_float(BinOp::Div, 1.0, 0.0), Ok(f64::INFINITY));
        assert_eq!(arith_float(BinOp::Pow, 2.0, 0.5), Ok(2f64.sqrt()));
        assert!(arith_float(BinOp::Rem, 1.0, 2.0).is_err());
        // Results are canonical: -0.0 is 0.0.
        assert_eq!(
            arith_float(BinOp::Mul, -1.0, 0.0).map(f64::to_bits),
            Ok(0f64.to_bits())
        );
        let f = number::float_bits;
        assert_eq!(compare(Type::Float, f(-1.5), f(0.5)), Ordering::Less);
        assert_eq!(
            compare(Type::Float, f(f64::NAN), f(f64::INFINITY)),
            Ordering::Greater
        );
        assert_eq!(compare(Type::Unsigned, -1, 1), Ordering::Greater);
        assert_eq!(compare(Type::Number, -1, 1), Ordering::Less);
        assert_eq!(negate(Type::Float, f(2.5)), Ok(f(-2.5)));
        assert!(negate(Type::Unsigned, 1).is_err());
        assert_eq!(
            arith_typed(Type::Float, BinOp::Add, f(0.5), f(0.25)),
            Ok(f(0.75))
        );
    }

    #[test]
    fn conversions() {
        let c = |f: Functor, v: FVal<'_>| call(f, &[v]);
        assert_eq!(c(Functor::ToNumber, FVal::Float(-3.7)), Ok(FVal::Num(-3)));
        assert!(c(Functor::ToNumber, FVal::Float(f64::NAN)).is_err());
        assert!(c(Functor::ToNumber, FVal::Float(1e30)).is_err());
        assert!(c(Functor::ToNumber, FVal::Unsigned(u64::MAX)).is_err());
        assert_eq!(c(Functor::ToUnsigned, FVal::Num(7)), Ok(FVal::Unsigned(7)));
        assert!(c(Functor::ToUnsigned, FVal::Num(-1)).is_err());
        assert!(c(Functor::ToUnsigned, FVal::Float(-0.5)).is_ok());
        assert!(c(Functor::ToUnsigned, FVal::Float(-1.0)).is_err());
        assert_eq!(c(Functor::ToUnsigned, s("0x10")), Ok(FVal::Unsigned(16)));
        assert_eq!(c(Functor::ToFloat, FVal::Num(3)), Ok(FVal::Float(3.0)));
        assert_eq!(c(Functor::ToFloat, s("2.5")), Ok(FVal::Float(2.5)));
        assert!(c(Functor::ToFloat, s("x")).is_err());
        assert_eq!(
            c(Functor::ToString, FVal::Float(0.1)),
            Ok(FVal::Str("0.100000".into()))
        );
        assert_eq!(
            c(Functor::ToString, FVal::Unsigned(u64::MAX)),
            Ok(FVal::Str("18446744073709551615".into()))
        );
        let fl = [FVal::Float(1.0), FVal::Float(-1.5), FVal::Float(0.5)];
        assert_eq!(call(Functor::Min, &fl), Ok(FVal::Float(-1.5)));
        assert_eq!(call(Functor::Max, &fl), Ok(FVal::Float(1.0)));
        let un = [FVal::Unsigned(u64::MAX), FVal::Unsigned(1)];
        assert_eq!(call(Functor::Max, &un), Ok(FVal::Unsigned(u64::MAX)));
        assert!(call(Functor::Max, &[FVal::Num(1), FVal::Float(1.0)]).is_err());
        assert_eq!(
            c(Functor::Bnot, FVal::Unsigned(0)),
            Ok(FVal::Unsigned(u64::MAX))
        );
        assert_eq!(c(Functor::Lnot, FVal::Unsigned(0)), Ok(FVal::Unsigned(1)));
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
