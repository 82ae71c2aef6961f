//! Lint levels: per lint, from `calm.toml`'s `[lints]` table and the command line.
//!
//! ```toml
//! [lints]
//! CALM001 = "deny"                     # by code (any case) ...
//! non-monotonic-aggregation = "warn"   # ... or by name
//! local-non-monotonic = "warn"
//! warnings = "deny"                    # every finding still at warn becomes deny
//! ```
//!
//! A lint without a setting has its default level (see `calm explain`). `warnings` applies after
//! the per-lint levels: `CALM001 = "allow"` with `warnings = "deny"` keeps CALM001 allowed.
//! `CALM005 unstratifiable` cannot be changed: such a program cannot run. Compiler errors are
//! always deny; compiler warnings are warn (and follow `warnings`).

use crate::Level;
use crate::lints;
use std::collections::BTreeMap;

/// A problem with a level setting or a `calm.toml`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The TOML does not parse.
    #[error("{0}")]
    Toml(String),
    /// `lints` is not a table.
    #[error("`lints` must be a table of `CODE = \"allow\" | \"warn\" | \"deny\"`")]
    NotATable,
    /// A level that is not `allow`, `warn` or `deny`.
    #[error("`{lint}`: the level must be \"allow\", \"warn\" or \"deny\", not {value}")]
    BadLevel {
        /// The lint.
        lint: String,
        /// What was written.
        value: String,
    },
    /// A name that is neither a lint nor `warnings`.
    #[error("unknown lint `{0}` (`calm explain` lists them)")]
    UnknownLint(String),
    /// A lint whose level is fixed.
    #[error("the level of {0} cannot be changed: a program it reports cannot run")]
    Fixed(String),
}

/// Levels per lint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    levels: BTreeMap<&'static str, Level>,
    /// The level findings still at warn after the per-lint levels get (`--deny warnings`).
    pub warnings: Option<Level>,
}

impl Config {
    /// The configuration of a `calm.toml` text.
    ///
    /// ```
    /// use calm_analyzer::{Config, Level};
    /// let c = Config::from_toml("[lints]\nCALM001 = \"warn\"\nwarnings = \"deny\"\n").unwrap();
    /// assert_eq!(c.level("CALM001"), Some(Level::Warn));
    /// assert_eq!(c.warnings, Some(Level::Deny));
    /// ```
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        c.merge_toml(text)?;
        Ok(c)
    }

    /// Adds the settings of a `calm.toml` text (its `[lints]` table; other tables are ignored).
    pub fn merge_toml(&mut self, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError::Toml(match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            })
        })?;
        let Some(lints) = table.get("lints") else {
            return Ok(());
        };
        let lints = lints.as_table().ok_or(ConfigError::NotATable)?;
        for (key, value) in lints {
            let level =
                value
                    .as_str()
                    .and_then(Level::parse)
                    .ok_or_else(|| ConfigError::BadLevel {
                        lint: key.clone(),
                        value: value.to_string(),
                    })?;
            self.set(key, level)?;
        }
        Ok(())
    }

    /// Sets the level of a lint (by code or name), or of `warnings`.
    pub fn set(&mut self, lint: &str, level: Level) -> Result<(), ConfigError> {
        if lint == "warnings" {
            self.warnings = Some(level);
            return Ok(());
        }
        let l = lints::find(lint).ok_or_else(|| ConfigError::UnknownLint(lint.to_string()))?;
        if !l.configurable {
            if level == Level::Deny {
                return Ok(());
            }
            return Err(ConfigError::Fixed(format!("{} {}", l.code, l.name)));
        }
        self.levels.insert(l.code, level);
        Ok(())
    }

    /// The level set for a lint code, if one is.
    pub fn level(&self, code: &str) -> Option<Level> {
        self.levels.get(code).copied()
    }

    /// The level of a finding with `code` whose default level is `default`.
    pub fn resolve(&self, code: &str, default: Level) -> Level {
        let level = self.level(code).unwrap_or(default);
        match (level, self.warnings) {
            (Level::Warn, Some(w)) if lints::find(code).is_none_or(|l| l.configurable) => w,
            _ => level,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_codes_and_errors() {
        let c = Config::from_toml(
            "[package]\nx = 1\n[lints]\ncalm002 = \"allow\"\nlocal-non-monotonic = \"warn\"\n",
        )
        .unwrap();
        assert_eq!(c.level("CALM002"), Some(Level::Allow));
        assert_eq!(c.level("CALM006"), Some(Level::Warn));
        assert_eq!(
            Config::from_toml("[lints]\nCALM001 = \"loud\"\n"),
            Err(ConfigError::BadLevel {
                lint: "CALM001".into(),
                value: "\"loud\"".into()
            })
        );
        assert_eq!(
            Config::from_toml("[lints]\nCALM999 = \"deny\"\n"),
            Err(ConfigError::UnknownLint("CALM999".into()))
        );
        assert!(matches!(
            Config::from_toml("[lints]\nCALM005 = \"allow\"\n"),
            Err(ConfigError::Fixed(_))
        ));
        assert_eq!(
            Config::from_toml("lints = 3\n"),
            Err(ConfigError::NotATable)
        );
        assert!(matches!(
            Config::from_toml("[lints\n"),
            Err(ConfigError::Toml(_))
        ));
    }

    #[test]
    fn warnings_apply_after_lint_levels() {
        let mut c = Config::default();
        c.set("CALM001", Level::Allow).unwrap();
        c.set("warnings", Level::Deny).unwrap();
        assert_eq!(c.resolve("CALM001", Level::Deny), Level::Allow);
        assert_eq!(c.resolve("CALM002", Level::Warn), Level::Deny);
        assert_eq!(c.resolve("W0100", Level::Warn), Level::Deny);
        assert_eq!(c.resolve("CALM006", Level::Allow), Level::Allow);
    }
}
