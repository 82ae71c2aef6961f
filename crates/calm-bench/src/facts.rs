//! Reading tab-separated `.facts` files of unsigned 32-bit numbers.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// Reads a file of two-column rows `a\tb`.
pub fn read_pairs(path: &Path) -> Result<Vec<(u32, u32)>> {
    let text = read(path)?;
    let mut rows = Vec::new();
    for (line_no, line) in lines(&text) {
        let mut fields = line.split('\t');
        let (Some(a), Some(b), None) = (fields.next(), fields.next(), fields.next()) else {
            bail!(
                "{}:{line_no}: expected 2 tab-separated fields",
                path.display()
            );
        };
        rows.push((number(a, path, line_no)?, number(b, path, line_no)?));
    }
    Ok(rows)
}

/// Reads a file of one-column rows.
pub fn read_singles(path: &Path) -> Result<Vec<u32>> {
    let text = read(path)?;
    let mut rows = Vec::new();
    for (line_no, line) in lines(&text) {
        if line.contains('\t') {
            bail!("{}:{line_no}: expected 1 field", path.display());
        }
        rows.push(number(line, path, line_no)?);
    }
    Ok(rows)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Non-empty lines with their 1-based line numbers, without a trailing `\r`.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.is_empty())
}

fn number(field: &str, path: &Path, line_no: usize) -> Result<u32> {
    field
        .trim()
        .parse()
        .with_context(|| format!("{}:{line_no}: `{field}` is not a u32", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `contents` to a fresh file and returns its path.
    fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("calm-bench-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn reads_pairs_and_singles() {
        let pairs = temp_file("pairs.facts", "1\t2\r\n\n3\t4\n");
        assert_eq!(read_pairs(&pairs).unwrap(), vec![(1, 2), (3, 4)]);
        let singles = temp_file("singles.facts", "7\n8\n");
        assert_eq!(read_singles(&singles).unwrap(), vec![7, 8]);
        std::fs::remove_file(pairs).unwrap();
        std::fs::remove_file(singles).unwrap();
    }

    #[test]
    fn rejects_bad_rows() {
        let bad = temp_file("bad.facts", "1\t2\t3\n");
        assert!(read_pairs(&bad).is_err());
        let neg = temp_file("neg.facts", "-1\t2\n");
        let err = read_pairs(&neg).unwrap_err();
        assert!(format!("{err:#}").contains(":1:"), "{err:#}");
        std::fs::remove_file(bad).unwrap();
        std::fs::remove_file(neg).unwrap();
    }
}
