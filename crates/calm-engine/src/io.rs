//! Souffle-compatible fact files: `.input` reads `rel.facts` (tab-separated by default),
//! `.output` writes `rel.csv`, `.printsize` prints `rel<TAB>count`.
//!
//! Directive parameters honoured: `IO=file|stdout`, `filename="..."`, `delimiter="..."`,
//! `rfc4180=true` (fields in quotes when they need to be, `,` by default; on output every symbol
//! is quoted), `headers=true` (a first line of column names: skipped on input, written on
//! output), `compress=true` (the output file is gzip; an input file is decompressed whenever it
//! is gzip data, as Souffle does). Any other parameter is rejected when the program is compiled.
//! A relation with several `.input` directives reads each file; one with several `.output`
//! directives writes each.
//!
//! ```
//! use calm_engine::{Engine, Program, io};
//! let dir = std::env::temp_dir().join(format!("calm-io-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("edge.facts"), "1\t2\n2\t3\n").unwrap();
//! let program = Program::compile("p.dl", ".decl edge(a: number, b: number)\n.input edge\n.printsize edge\n").unwrap();
//! let mut engine = Engine::new(&program);
//! io::load_inputs(&mut engine, &dir).unwrap();
//! engine.run().unwrap();
//! let mut out = Vec::new();
//! io::write_outputs(&engine, &io::OutputTarget::Stdout, &mut out).unwrap();
//! assert_eq!(String::from_utf8(out).unwrap(), "edge\t2\n");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use crate::{Engine, EngineError, Value};
use calm_ir::{IoSpec, Type};
use calm_syntax::Diagnostic;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where `.output` relations go.
#[derive(Clone, Debug)]
pub enum OutputTarget {
    /// Each relation to `rel.csv` (or its `filename`) in this directory.
    Dir(PathBuf),
    /// Everything to standard output.
    Stdout,
}

fn io_kind(spec: &IoSpec) -> &str {
    spec.params.get("io").map_or("file", String::as_str)
}

/// Whether a `key=true` parameter is given.
fn flag(spec: &IoSpec, key: &str) -> bool {
    spec.params.get(key).is_some_and(|v| v == "true")
}

fn io_err(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The largest fact file read (1 GiB): a larger one (or a device that never ends, such as
/// `/dev/zero`) is an error, not a process that grows until the machine runs out of memory.
pub const MAX_FACT_FILE_BYTES: u64 = 1 << 30;

/// Reads a whole file of at most `max` bytes.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes, the most a fact file may hold"),
        ));
    }
    Ok(bytes)
}

/// Reads every `.input` relation's file from `dir`. Returns the number of facts read.
pub fn load_inputs(engine: &mut Engine, dir: &Path) -> Result<usize, EngineError> {
    load_inputs_at_most(engine, dir, MAX_FACT_FILE_BYTES)
}

/// [`load_inputs`] with another bound on the size of each fact file.
pub fn load_inputs_at_most(
    engine: &mut Engine,
    dir: &Path,
    max_file_bytes: u64,
) -> Result<usize, EngineError> {
    let program = engine.program().clone();
    let mut total = 0;
    for rel in &program.ir().relations {
        for spec in &rel.inputs {
            let directive = |msg: String| -> EngineError {
                let d = Diagnostic::error(msg).with_code("E0600");
                let d = d.with_secondary(program.file(), spec.span, "input declared here");
                EngineError::Data(Box::new(d))
            };
            if io_kind(spec) == "timer" {
                // Timer inputs are fed by a running node, not by files.
                continue;
            }
            if io_kind(spec) != "file" {
                return Err(directive(format!(
                    "`.input {}`: IO={} is not supported (IO=file, or IO=timer on a node)",
                    rel.name,
                    io_kind(spec)
                )));
            }
            let name = spec
                .params
                .get("filename")
                .cloned()
                .unwrap_or_else(|| format!("{}.facts", rel.name));
            let headers = flag(spec, "headers");
            let rfc4180 = flag(spec, "rfc4180");
            let default_delimiter = if rfc4180 { "," } else { "\t" };
            let delimiter = spec
                .params
                .get("delimiter")
                .map_or(default_delimiter, String::as_str);
            if delimiter.is_empty() {
                return Err(directive(format!(
                    "`.input {}`: the delimiter is empty",
                    rel.name
                )));
            }
            let path = dir.join(&name);
            let bytes = read_bounded(&path, max_file_bytes).map_err(|e| {
                directive(format!(
                    "`.input {}`: cannot read {}: {e}",
                    rel.name,
                    path.display()
                ))
            })?;
            // Gzip data is read whether `compress=true` says so or not, as Souffle does.
            let bytes = if crate::csv::is_gzip(&bytes) {
                crate::csv::gunzip(&bytes, max_file_bytes)
                    .map_err(|e| directive(format!("{}: {e}", path.display())))?
            } else {
                bytes
            };
            let text = String::from_utf8(bytes).map_err(|e| {
                directive(format!(
                    "{}: not valid UTF-8 (at byte {})",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?;
            let at = |line: usize, col: usize| format!("{}:{line}:{col}", path.display());
            let has_records = rel.types.iter().any(|t| matches!(t, Type::Record(_)));
            // Each row: its line and its fields.
            let mut rows: Vec<(usize, Vec<std::borrow::Cow<'_, str>>)> = Vec::new();
            if rfc4180 {
                let split = crate::csv::split_rfc4180(&text, delimiter)
                    .map_err(|(l, c, msg)| directive(format!("{}: {msg}", at(l, c))))?;
                for (line, fields) in split {
                    let fields = if rel.arity == 0 {
                        Vec::new()
                    } else {
                        fields.into_iter().map(std::borrow::Cow::Owned).collect()
                    };
                    rows.push((line, fields));
                }
            } else {
                for (i, line) in text.lines().enumerate() {
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    if line.is_empty() && rel.arity > 0 {
                        continue;
                    }
                    let fields: Vec<&str> = if rel.arity == 0 {
                        Vec::new()
                    } else if has_records && !(headers && rows.is_empty()) {
                        split_with_records(line, delimiter, &rel.types)
                            .map_err(|(col, msg)| directive(format!("{}: {msg}", at(i + 1, col))))?
                    } else {
                        line.split(delimiter).collect()
                    };
                    rows.push((
                        i + 1,
                        fields.into_iter().map(std::borrow::Cow::Borrowed).collect(),
                    ));
                }
            }
            if headers && !rows.is_empty() {
                // The first row names the columns.
                rows.remove(0);
            }
            let mut tuples = Vec::new();
            for (line, fields) in &rows {
                let line = *line;
                if fields.len() != rel.arity {
                    return Err(directive(format!(
                        "{}: `{}` has {} column{}, this line has {}",
                        at(line, 1),
                        rel.name,
                        rel.arity,
                        if rel.arity == 1 { "" } else { "s" },
                        fields.len()
                    )));
                }
                let mut col = 1;
                let mut tuple = Vec::with_capacity(rel.arity);
                for (f, ty) in fields.iter().zip(&rel.types) {
                    let f: &str = f;
                    tuple.push(match ty {
                        Type::Number => match f.trim().parse::<i64>() {
                            Ok(n) => Value::Number(n),
                            Err(_) => {
                                return Err(directive(format!(
                                    "{}: expected a number for column `{}` of `{}`, found `{}`",
                                    at(line, col),
                                    rel.columns.get(tuple.len()).map_or("?", String::as_str),
                                    rel.name,
                                    f.escape_debug()
                                )));
                            }
                        },
                        Type::Symbol => Value::Symbol((*f).to_string()),
                        Type::Unsigned | Type::Float => match crate::record::read_number(*ty, f) {
                            Some(v) => v,
                            None => {
                                return Err(directive(format!(
                                    "{}: expected {} for column `{}` of `{}`, found `{}`",
                                    at(line, col),
                                    if *ty == Type::Float {
                                        "a float"
                                    } else {
                                        "an unsigned number"
                                    },
                                    rel.columns.get(tuple.len()).map_or("?", String::as_str),
                                    rel.name,
                                    f.escape_debug()
                                )));
                            }
                        },
                        Type::Record(_) => {
                            let ir = program.ir();
                            let dry = &mut crate::record::DryRun;
                            if let Err(msg) = crate::record::parse(ir, *ty, f, dry) {
                                return Err(directive(format!(
                                    "{}: column `{}` of `{}`: {msg}",
                                    at(line, col),
                                    rel.columns.get(tuple.len()).map_or("?", String::as_str),
                                    rel.name,
                                )));
                            }
                            Value::Symbol(f.trim().to_string())
                        }
                    });
                    col += f.chars().count() + delimiter.chars().count();
                }
                tuples.push(tuple);
            }
            total += tuples.len();
            engine.insert(&rel.name, tuples)?;
        }
    }
    Ok(total)
}

/// Splits a line of a relation with record columns: a record column ends where its record
/// does (it may contain the delimiter), any other column at the next delimiter (the last one at
/// the end of the line). Errors give the 1-based character column.
fn split_with_records<'a>(
    line: &'a str,
    delimiter: &str,
    types: &[Type],
) -> Result<Vec<&'a str>, (usize, String)> {
    let col = |byte: usize| line[..byte].chars().count() + 1;
    let mut fields = Vec::with_capacity(types.len());
    let mut pos = 0;
    for (i, ty) in types.iter().enumerate() {
        let last = i + 1 == types.len();
        let end = match ty {
            Type::Record(_) => crate::record::end_of(line, pos).map_err(|m| (col(pos), m))?,
            _ if last => line.len(),
            _ => match line[pos..].find(delimiter) {
                Some(k) => pos + k,
                None => {
                    return Err((
                        col(line.len()),
                        format!("expected {} columns, this line has {}", types.len(), i + 1),
                    ));
                }
            },
        };
        fields.push(&line[pos..end]);
        pos = end;
        if last {
            if !line[pos..].trim().is_empty() {
                return Err((col(pos), "unexpected text after the last column".into()));
            }
        } else {
            // Blanks around the delimiter are allowed after a record.
            let rest = &line[pos..];
            let skip = if rest.starts_with(delimiter) {
                0
            } else {
                rest.len() - rest.trim_start_matches(' ').len()
            };
            if !rest[skip..].starts_with(delimiter) {
                return Err((col(pos), format!("expected the delimiter {delimiter:?}")));
            }
            pos += skip + delimiter.len();
        }
    }
    Ok(fields)
}

/// Writes `.printsize` lines and `.output` relations. Relations with `IO=stdout`, and all of
/// them when the target is [`OutputTarget::Stdout`], go to `stdout` in Souffle's format.
pub fn write_outputs(
    engine: &Engine,
    target: &OutputTarget,
    stdout: &mut dyn Write,
) -> Result<(), EngineError> {
    let program = engine.program().clone();
    let so = |e| io_err(Path::new("<stdout>"), e);
    for rel in &program.ir().relations {
        if rel.printsize {
            writeln!(stdout, "{}\t{}", rel.name, engine.relation_len(&rel.name)?).map_err(so)?;
        }
        for spec in &rel.outputs {
            let rfc4180 = flag(spec, "rfc4180");
            let rows = if rfc4180 {
                engine.relation_quoting_records(&rel.name)?
            } else {
                engine.relation(&rel.name)?
            };
            let default_delimiter = if rfc4180 { "," } else { "\t" };
            let delimiter = spec
                .params
                .get("delimiter")
                .map_or(default_delimiter, String::as_str);
            let to_stdout = matches!(target, OutputTarget::Stdout) || io_kind(spec) == "stdout";
            let mut text = String::new();
            for row in &rows {
                if row.is_empty() {
                    // Souffle writes the tuple of a zero-column relation as `()`.
                    text.push_str("()\n");
                    continue;
                }
                let line: Vec<String> = row
                    .iter()
                    .map(|v| match v {
                        Value::Symbol(s) if rfc4180 => crate::csv::quote(s),
                        v => v.to_string(),
                    })
                    .collect();
                text.push_str(&line.join(delimiter));
                text.push('\n');
            }
            // The column names, under `-D -` (as Souffle prints them) and with `headers=true`.
            let header = format!("{}\n", rel.columns.join(delimiter));
            if to_stdout {
                let header = if matches!(target, OutputTarget::Stdout) || flag(spec, "headers") {
                    header
                } else {
                    String::new()
                };
                write!(
                    stdout,
                    "---------------\n{}\n{header}===============\n{text}===============\n",
                    rel.name
                )
                .map_err(so)?;
                continue;
            }
            let OutputTarget::Dir(dir) = target else {
                continue;
            };
            if flag(spec, "headers") {
                text.insert_str(0, &header);
            }
            let name = spec
                .params
                .get("filename")
                .cloned()
                .unwrap_or_else(|| format!("{}.csv", rel.name));
            let path = dir.join(name);
            let bytes = if flag(spec, "compress") {
                crate::csv::gzip(&text).map_err(|e| io_err(&path, e))?
            } else {
                text.into_bytes()
            };
            std::fs::write(&path, bytes).map_err(|e| io_err(&path, e))?;
        }
    }
    stdout.flush().map_err(so)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Program;

    #[test]
    fn a_fact_file_larger_than_the_bound_is_an_error_not_a_growing_process() {
        let dir = std::env::temp_dir().join(format!("calm-io-bound-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = Program::compile("t.dl", ".decl e(x: number)\n.input e\n").unwrap();
        std::fs::write(dir.join("e.facts"), "1\n2\n3\n").unwrap();
        let mut e = Engine::new(&p);
        assert_eq!(load_inputs_at_most(&mut e, &dir, 6).unwrap(), 3);
        let mut e = Engine::new(&p);
        let err = load_inputs_at_most(&mut e, &dir, 5).unwrap_err();
        assert!(err.to_string().contains("larger than 5 bytes"), "{err}");
        // A device that never ends stops at the bound.
        #[cfg(unix)]
        {
            let _ = std::fs::remove_file(dir.join("e.facts"));
            std::os::unix::fs::symlink("/dev/zero", dir.join("e.facts")).unwrap();
            let mut e = Engine::new(&p);
            let err = load_inputs_at_most(&mut e, &dir, 1 << 20).unwrap_err();
            assert!(err.to_string().contains("larger than"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
