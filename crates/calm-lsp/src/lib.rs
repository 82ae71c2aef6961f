//! The calm language server (`calm lsp`): LSP over standard input and output.
//!
//! What it offers, for `.dl` documents the client opens:
//!
//! - **Diagnostics as you type** (`textDocument/publishDiagnostics` after every change): what
//!   `calm check` reports — syntax and IR errors and the CALM lints, levels from the nearest
//!   `calm.toml` — with the finding's code as the diagnostic's code and the path of a point of
//!   order (and its consequence) as related information ([`diagnostics`]).
//! - **Hover** on a relation: its declaration, its columns and their types, whether it is an
//!   input, an output, persisted, sent with `@async` or carried with `@next`, and whether the
//!   analyzer finds it monotone ([`hover`]).
//! - **Go to definition**, **find references**, **rename** (a `WorkspaceEdit`, checked by
//!   parsing the renamed text) and **document symbols** ([`navigate`]).
//! - **Formatting** of the whole document in `calm fmt`'s layout
//!   (`calm_syntax::format::format_source`; a program with errors is left alone).
//! - A **quick fix** on a CALM lint that inserts `// calm: allow(CODE) ???` ([`actions`]).
//!
//! Parsing never fails, and names in clauses that did not parse are found by a lexical scan
//! ([`occurrences`]), so every feature but formatting works on a half-typed file. Positions are UTF-16 code
//! units, converted from calm's byte offsets by [`line_index`].
//!
//! Input from the client is untrusted: messages are framed and bounded by [`transport`], every
//! request with bad parameters or an unknown method gets an error response, documents are bounded
//! in size and number ([`Limits`]), and a panic while answering one request is caught and
//! answered as an internal error ([`server`]).
//!
//! ```no_run
//! let (connection, threads) = calm_lsp::transport::stdio(calm_lsp::Limits::default().message_bytes);
//! let exit = calm_lsp::server::run(&connection, calm_lsp::Limits::default()).unwrap();
//! drop(connection);
//! threads.join().unwrap();
//! std::process::exit(if exit.clean() { 0 } else { 1 });
//! ```

pub mod actions;
pub mod diagnostics;
pub mod document;
pub mod hover;
pub mod line_index;
pub mod navigate;
pub mod occurrences;
pub mod server;
pub mod transport;

/// Bounds on what a client may make the server hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message body read, in bytes (larger ones are dropped and answered with an error).
    pub message_bytes: usize,
    /// Largest document analysed, in bytes: a larger one gets one diagnostic saying so.
    pub document_bytes: usize,
    /// Most documents open at once.
    pub documents: usize,
    /// Most bytes of text held over all open documents.
    pub total_bytes: usize,
    /// Most bytes of text the ranged changes of one `didChange` may pass over (each is applied
    /// to the whole text); past it the document is out of sync until its whole text is sent.
    pub change_work: usize,
}

impl Default for Limits {
    /// 64 MiB messages, 16 MiB documents, 256 documents, 256 MiB in all, changes passing over
    /// 256 MiB (sixteen changes to a 16 MiB document, 65,536 to a 4 KiB one).
    fn default() -> Limits {
        Limits {
            message_bytes: 64 << 20,
            document_bytes: 16 << 20,
            documents: 256,
            total_bytes: 256 << 20,
            change_work: 256 << 20,
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection to the client broke while sending.
    #[error("the connection to the client is closed")]
    Disconnected,
}
