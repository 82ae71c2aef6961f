//! How `float` and `unsigned` values are represented, read and written.
//!
//! Every value of a numeric column is a 64-bit word: a `number` is an `i64`, an `unsigned` a
//! `u64` and a `float` an `f64`, each stored as its 64 bits (an `i64` in [`Const`] and in the
//! engine). A float is *canonical* before it is stored: `-0.0` is stored as `0.0` and every NaN
//! as one NaN, so that equal floats have equal bits and joins, indexes and duplicate removal,
//! which compare bits, agree with `=`. Floats are ordered by [`f64::total_cmp`] on canonical
//! values: NaN is above every other float and equal to itself.
//!
//! [`Const`]: crate::Const

use std::cmp::Ordering;

/// The canonical float for `f`: `0.0` for both zeros, one NaN for every NaN.
#[inline]
pub fn canonical(f: f64) -> f64 {
    if f == 0.0 {
        0.0
    } else if f.is_nan() {
        f64::NAN
    } else {
        f
    }
}

/// The bits a float is stored as (of its canonical value).
#[inline]
pub fn float_bits(f: f64) -> i64 {
    canonical(f).to_bits() as i64
}

/// The float stored as `bits`.
#[inline]
pub fn float_of(bits: i64) -> f64 {
    f64::from_bits(bits as u64)
}

/// The order of two floats: [`f64::total_cmp`] of their canonical values.
#[inline]
pub fn float_cmp(a: f64, b: f64) -> Ordering {
    canonical(a).total_cmp(&canonical(b))
}

/// A float as Souffle writes it to a `.csv` file (C++'s `<<` with `max_digits10`
/// precision, in `%g`'s layout), but with the fewest digits that read back as the same
/// float: `2.5`, `3`, `0.0009765625`, `1e-05`, `1.5e+20`, `inf`, `-inf`, `nan`.
pub fn float_text(f: f64) -> String {
    let f = canonical(f);
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{f}")
    }
}

/// A float as Souffle's `to_string` writes it (C++'s `std::to_string`: six decimals).
pub fn float_to_string(f: f64) -> String {
    let f = canonical(f);
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{f:.6}")
    }
}

/// Reads a float as Souffle reads one from a fact file or a symbol (`1.5`, `-2e3`, `.5`,
/// `inf`, `infinity`, `nan`, in any case; surrounding blanks are ignored).
pub fn parse_float(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().map(canonical)
}

/// Reads an unsigned as Souffle does: decimal, `0x` hexadecimal or `0b` binary, no sign.
pub fn parse_unsigned(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, radix) = if let Some(d) = t.strip_prefix("0x").or(t.strip_prefix("0X")) {
        (d, 16)
    } else if let Some(d) = t.strip_prefix("0b").or(t.strip_prefix("0B")) {
        (d, 2)
    } else {
        (t, 10)
    };
    if digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_like_souffle() {
        for (f, text) in [
            (2.5, "2.5"),
            (3.0, "3"),
            (-55.0, "-55"),
            (0.0009765625, "0.0009765625"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e20, "1.5e+20"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (-0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (0.1, "0.1"),
        ] {
            assert_eq!(float_text(f), text, "{f:?}");
        }
        assert_eq!(float_to_string(2.5), "2.500000");
        assert_eq!(float_to_string(-3.0), "-3.000000");
    }

    #[test]
    fn canonical_bits_make_equal_floats_equal() {
        assert_eq!(float_bits(-0.0), float_bits(0.0));
        assert_eq!(float_bits(f64::NAN), float_bits(-f64::NAN));
        assert_ne!(float_bits(1.0), float_bits(-1.0));
        assert_eq!(float_of(float_bits(2.5)), 2.5);
        assert_eq!(float_cmp(f64::NAN, f64::INFINITY), Ordering::Greater);
        assert_eq!(float_cmp(-0.0, 0.0), Ordering::Equal);
        assert_eq!(float_cmp(-1.0, 0.5), Ordering::Less);
    }

    #[test]
    fn reading() {
        assert_eq!(parse_float(" 1.5 "), Some(1.5));
        assert_eq!(parse_float("-2e3"), Some(-2000.0));
        assert_eq!(parse_float("inf"), Some(f64::INFINITY));
        assert!(parse_float("nan").is_some_and(f64::is_nan));
        assert_eq!(parse_float("1.5x"), None);
        assert_eq!(parse_unsigned("0xff"), Some(255));
        assert_eq!(parse_unsigned("0b101"), Some(5));
        assert_eq!(parse_unsigned("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_unsigned("-1"), None);
        assert_eq!(parse_unsigned("+1"), None);
    }
}
