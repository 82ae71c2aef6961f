//! Reading programs: the file system behind the preprocessor's `#include`, and the `-I`/`-M`
//! options (Souffle's include directories and macros).

use calm_engine::{CompileError, Program};
use calm_syntax::{FileLoader, MAX_SOURCE_LEN, PreprocessOptions, SourceMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Preprocessor options of the commands that read programs.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PreprocessArgs {
    /// A directory searched for `#include`d and `.include`d files, after the including file's
    /// own (repeatable; Souffle's `-I`).
    #[arg(short = 'I', long = "include-dir", value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,
    /// Macros for the preprocessor: `NAME=value` or `NAME`, several separated by blanks
    /// (repeatable; Souffle's `-M`).
    #[arg(short = 'M', long = "macro", value_name = "DEFS")]
    pub macros: Vec<String>,
}

impl PreprocessArgs {
    /// The options these arguments give.
    pub fn options(&self) -> anyhow::Result<PreprocessOptions> {
        let mut options = PreprocessOptions {
            include_dirs: self.include_dirs.clone(),
            macros: Vec::new(),
        };
        for m in &self.macros {
            options.add_macros(m).map_err(anyhow::Error::msg)?;
        }
        Ok(options)
    }
}

/// Reads included files from the file system (at most [`MAX_SOURCE_LEN`] bytes, UTF-8).
pub struct FsLoader;

impl FileLoader for FsLoader {
    fn load(&mut self, path: &Path) -> Result<Option<String>, String> {
        if !path.is_file() {
            return Ok(None);
        }
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        file.take(MAX_SOURCE_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        if bytes.len() > MAX_SOURCE_LEN {
            return Err(format!("larger than {MAX_SOURCE_LEN} bytes"));
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()))
    }
}

/// Preprocesses (includes read from the file system) and compiles a program read from `name`.
pub fn compile(
    name: &str,
    text: String,
    options: &PreprocessOptions,
) -> Result<Program, CompileError> {
    let mut sources = SourceMap::new();
    let file = sources.add(name, text);
    Program::compile_file(sources, file, options, &mut FsLoader)
}
