//! The node benchmark's table: one line per figure, calm beside Redis, the ratio and the target.

use std::fmt::Write as _;

/// One line of the table.
#[derive(Clone, Debug, Default)]
pub struct Line {
    /// The scenario (`2. kvs, 1 node, 10,000 versions`).
    pub scenario: String,
    /// What is measured (`puts/s, 16 clients`).
    pub measure: String,
    /// calm's figure, formatted.
    pub calm: String,
    /// Redis's figure, formatted (empty: none).
    pub redis: String,
    /// The ratio the target is about, if both figures exist.
    pub ratio: Option<f64>,
    /// The target (`≥ 0.5× Redis`).
    pub target: String,
    /// Whether the target is met; `None` when it cannot be said (no figure, or no target).
    pub met: Option<bool>,
}

impl Line {
    /// A line for a rate where more is better: met when `calm / base >= min_ratio`.
    pub fn at_least(
        scenario: &str,
        measure: &str,
        (calm, calm_text): (Option<f64>, String),
        (base, base_text): (Option<f64>, String),
        min_ratio: f64,
        target: &str,
    ) -> Line {
        let ratio = match (calm, base) {
            (Some(c), Some(b)) if b > 0.0 => Some(c / b),
            _ => None,
        };
        Line {
            scenario: scenario.to_owned(),
            measure: measure.to_owned(),
            calm: calm_text,
            redis: base_text,
            ratio,
            target: target.to_owned(),
            met: ratio.map(|r| r >= min_ratio),
        }
    }
}

/// Renders `lines` as a markdown table.
pub fn render(lines: &[Line]) -> String {
    let header = [
        "scenario", "measure", "calm", "Redis", "ratio", "target", "met",
    ];
    let rows: Vec<[String; 7]> = lines
        .iter()
        .map(|l| {
            [
                l.scenario.clone(),
                l.measure.clone(),
                l.calm.clone(),
                or_dash(&l.redis),
                l.ratio
                    .map_or_else(|| "—".to_owned(), |r| format!("{r:.3}")),
                or_dash(&l.target),
                match l.met {
                    Some(true) => "met".to_owned(),
                    Some(false) => "**not met**".to_owned(),
                    None => "—".to_owned(),
                },
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        out.push('|');
        for (cell, w) in cells.iter().zip(&widths) {
            let pad = w - cell.chars().count();
            let _ = write!(out, " {cell}{} |", " ".repeat(pad));
        }
        out.push('\n');
    };
    line(&mut out, &header.map(str::to_owned));
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        // Figures (calm, Redis, ratio) are right-aligned.
        if (2..=4).contains(&i) {
            let _ = write!(out, "{}:|", "-".repeat(w + 1));
        } else {
            let _ = write!(out, "{}|", "-".repeat(w + 2));
        }
    }
    out.push('\n');
    for row in &rows {
        line(&mut out, row);
    }
    out
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "—".to_owned()
    } else {
        s.to_owned()
    }
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "—".to_owned();
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Milliseconds with three significant digits (`0.123 ms`, `12.3 ms`, `1,234 ms`).
pub fn ms(x: f64) -> String {
    if !x.is_finite() {
        "—".to_owned()
    } else if x >= 1000.0 {
        format!("{} ms", thousands(x))
    } else if x >= 100.0 {
        format!("{x:.0} ms")
    } else if x >= 10.0 {
        format!("{x:.1} ms")
    } else if x >= 1.0 {
        format!("{x:.2} ms")
    } else {
        format!("{x:.3} ms")
    }
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-12_345.0), "-12,345");
        assert_eq!(ms(0.1234), "0.123 ms");
        assert_eq!(ms(12.34), "12.3 ms");
        assert_eq!(ms(2345.0), "2,345 ms");
        assert_eq!(mib(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    }

    #[test]
    fn table_lines_and_verdicts() {
        let lines = vec![
            Line::at_least(
                "2. kvs",
                "puts/s",
                (Some(100.0), "100".into()),
                (Some(1000.0), "1,000".into()),
                0.5,
                "≥ 0.5× Redis",
            ),
            Line::at_least(
                "2. kvs",
                "gets/s",
                (Some(800.0), "800".into()),
                (Some(1000.0), "1,000".into()),
                0.5,
                "≥ 0.5× Redis",
            ),
            Line::at_least(
                "2. kvs",
                "gets/s",
                (Some(800.0), "800".into()),
                (None, String::new()),
                0.5,
                "≥ 0.5× Redis",
            ),
        ];
        assert_eq!(lines[0].met, Some(false));
        assert_eq!(lines[1].met, Some(true));
        assert_eq!(lines[2].met, None);
        let text = render(&lines);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 5, "{text}");
        assert!(rows[0].starts_with("| scenario"), "{text}");
        assert!(rows[1].contains("-:|"), "{text}");
        assert!(
            rows[2].contains("0.100") && rows[2].contains("**not met**"),
            "{text}"
        );
        assert!(
            rows[3].contains("0.800") && rows[3].contains("| met"),
            "{text}"
        );
        assert!(
            rows[4].ends_with("| —   |") || rows[4].contains("| — "),
            "{text}"
        );
        // Every row has the same number of cells.
        let bars = |r: &str| r.matches('|').count();
        assert!(rows.iter().all(|r| bars(r) == 8), "{text}");
    }
}
