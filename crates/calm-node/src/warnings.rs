//! What is wrong with a node's setup or its cluster, as shown in `/v1/status` (`warnings`).
//!
//! Each problem is logged at WARN when it is found and kept here under a key (the kind of problem
//! and whom it is about) until it is solved: a peer that connects clears "never connected", a
//! peer whose member list agrees again clears its mismatch. Problems reported by outsiders (a
//! node not in the peer list connecting) are bounded in number and their names shortened, so a
//! stranger cannot grow this set.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Warnings about names outsiders choose (unknown peers) kept at most.
const MAX_OUTSIDER_WARNINGS: usize = 8;

/// Longest name (in characters) quoted in a warning about an outsider.
const MAX_QUOTED: usize = 64;

/// The current warnings, by key.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    inner: Mutex<BTreeMap<String, String>>,
}

impl Warnings {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the warning `key`; returns whether it is new or changed (worth logging).
    pub fn set(&self, key: &str, message: String) -> bool {
        let mut g = self.lock();
        if g.get(key) == Some(&message) {
            return false;
        }
        if key.starts_with(OUTSIDER) && !g.contains_key(key) {
            let n = g.keys().filter(|k| k.starts_with(OUTSIDER)).count();
            if n >= MAX_OUTSIDER_WARNINGS {
                return false;
            }
        }
        g.insert(key.to_string(), message);
        true
    }

    /// Removes the warning `key`.
    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    /// The warnings, in key order.
    pub fn list(&self) -> Vec<String> {
        self.lock().values().cloned().collect()
    }
}

/// The key prefix of warnings about names outsiders choose.
pub(crate) const OUTSIDER: &str = "outsider:";

/// A name chosen by someone else, quoted for a log line or a warning: escaped and shortened.
pub(crate) fn quote(name: &str) -> String {
    let short: String = name.chars().take(MAX_QUOTED).collect();
    let mut q = format!("{short:?}");
    if short.len() < name.len() {
        q.push('…');
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outsiders_are_bounded_and_quoted() {
        let w = Warnings::default();
        assert!(w.set("a", "x".into()));
        assert!(!w.set("a", "x".into()));
        for i in 0..20 {
            w.set(&format!("{OUTSIDER}{i}"), format!("o{i}"));
        }
        assert_eq!(w.list().len(), 1 + MAX_OUTSIDER_WARNINGS);
        w.clear("a");
        assert_eq!(w.list().len(), MAX_OUTSIDER_WARNINGS);
        assert_eq!(quote("a\u{7}"), "\"a\\u{7}\"");
        assert!(quote(&"x".repeat(500)).ends_with('…'));
    }
}
