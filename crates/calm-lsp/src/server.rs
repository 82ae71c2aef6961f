//! The server loop: the lifecycle (initialize, shutdown, exit), the open documents, and one
//! handler per request.
//!
//! Messages are handled one at a time, in order. Diagnostics are published when no message is
//! waiting (so a burst of changes is analysed once). Before `initialize`, requests are answered
//! with `ServerNotInitialized` and notifications other than `exit` are dropped; after
//! `shutdown`, requests are answered with `InvalidRequest`. An unknown request gets
//! `MethodNotFound`, parameters that do not fit the method `InvalidParams`, a position past the
//! end of the document `InvalidParams`; unknown notifications are dropped, as the specification
//! says. A panic while answering is caught and answered with `InternalError`.

use crate::document::{Analysed, Document};
use crate::line_index::LineIndex;
use crate::{Error, Limits, actions, diagnostics, hover, navigate};
use calm_analyzer::Config;
use calm_syntax::Span;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response, ResponseError};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, LogMessage,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    PrepareRenameRequest, References, Rename, Request as _,
};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentFormattingParams, DocumentSymbol, DocumentSymbolParams,
    DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverParams, HoverProviderCapability, InitializeResult, Location, LogMessageParams,
    MarkupContent, MarkupKind, MessageType, OneOf, Position, PositionEncodingKind,
    PrepareRenameResponse, PublishDiagnosticsParams, ReferenceParams, RenameOptions, RenameParams,
    ServerCapabilities, ServerInfo, SymbolKind, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri, WorkDoneProgressOptions,
    WorkspaceEdit,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::rc::Rc;

/// How the server stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit` after `shutdown`: exit code 0.
    Clean,
    /// `exit` without `shutdown`: exit code 1, as the specification says.
    WithoutShutdown,
    /// The client closed the connection without `exit`.
    Disconnected,
}

impl Exit {
    /// Whether the process should exit with code 0.
    pub fn clean(self) -> bool {
        self == Exit::Clean
    }
}

/// The capabilities the server declares.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            work_done_progress_options: WorkDoneProgressOptions::default(),
            resolve_provider: None,
        })),
        ..ServerCapabilities::default()
    }
}

/// Serves `conn` until `exit` or until the client goes away.
pub fn run(conn: &Connection, limits: Limits) -> Result<Exit, Error> {
    let mut server = Server {
        conn,
        limits,
        docs: HashMap::new(),
        state: State::Uninitialized,
    };
    server.main_loop()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Uninitialized,
    Running,
    ShutDown,
}

struct Server<'c> {
    conn: &'c Connection,
    limits: Limits,
    docs: HashMap<Uri, Document>,
    state: State,
}

/// An open document with text, as a request sees it.
struct Open {
    a: Rc<Analysed>,
    text: Rc<str>,
    index: Rc<LineIndex>,
}

/// A handler's failure: the error response to send.
type Failure = ResponseError;

fn failure(code: ErrorCode, message: impl Into<String>) -> Failure {
    ResponseError {
        code: code as i32,
        message: message.into(),
        data: None,
    }
}

impl Server<'_> {
    fn main_loop(&mut self) -> Result<Exit, Error> {
        loop {
            let Ok(msg) = self.conn.receiver.recv() else {
                return Ok(Exit::Disconnected);
            };
            match msg {
                Message::Request(req) => self.request(req)?,
                Message::Notification(n) if n.method == "exit" => {
                    return Ok(if self.state == State::ShutDown {
                        Exit::Clean
                    } else {
                        Exit::WithoutShutdown
                    });
                }
                Message::Notification(n) => {
                    if self.state == State::Running {
                        let method = n.method.clone();
                        let caught = catch_unwind(AssertUnwindSafe(|| self.notification(n)));
                        match caught {
                            Ok(r) => r?,
                            Err(panic) => self.log(
                                MessageType::ERROR,
                                format!(
                                    "internal error handling `{method}`: {}",
                                    panic_text(&*panic)
                                ),
                            )?,
                        }
                    }
                }
                // The server sends no requests, so responses answer nothing.
                Message::Response(_) => {}
            }
            if self.conn.receiver.is_empty() {
                self.publish()?;
            }
        }
    }

    fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        self.conn
            .sender
            .send(msg.into())
            .map_err(|_| Error::Disconnected)
    }

    fn notify<N: lsp_types::notification::Notification>(
        &self,
        params: N::Params,
    ) -> Result<(), Error> {
        self.send(Notification::new(N::METHOD.to_string(), params))
    }

    fn log(&self, typ: MessageType, message: String) -> Result<(), Error> {
        self.notify::<LogMessage>(LogMessageParams { typ, message })
    }

    fn request(&mut self, req: Request) -> Result<(), Error> {
        let id = req.id.clone();
        let result = match (self.state, req.method.as_str()) {
            (State::Uninitialized, "initialize") => {
                self.state = State::Running;
                let result = InitializeResult {
                    capabilities: capabilities(),
                    server_info: Some(ServerInfo {
                        name: "calm".to_string(),
                        version: Some(env!("CARGO_PKG_VERSION").to_string()),
                    }),
                };
                to_json(&result)
            }
            (State::Uninitialized, _) => Err(failure(
                ErrorCode::ServerNotInitialized,
                "the server is not initialized",
            )),
            (State::Running, "initialize") => Err(failure(
                ErrorCode::InvalidRequest,
                "the server is already initialized",
            )),
            (State::ShutDown, _) => Err(failure(
                ErrorCode::InvalidRequest,
                "the server is shut down: only `exit` is accepted",
            )),
            (State::Running, "shutdown") => {
                self.state = State::ShutDown;
                Ok(serde_json::Value::Null)
            }
            (State::Running, method) => {
                let method = method.to_string();
                match catch_unwind(AssertUnwindSafe(|| self.dispatch(req))) {
                    Ok(r) => r,
                    Err(panic) => {
                        let why = panic_text(&*panic);
                        self.log(
                            MessageType::ERROR,
                            format!("internal error answering `{method}`: {why}"),
                        )?;
                        Err(failure(
                            ErrorCode::InternalError,
                            format!("internal error: {why}"),
                        ))
                    }
                }
            }
        };
        self.send(Response {
            id,
            response_result: result,
        })
    }

    fn dispatch(&mut self, req: Request) -> Result<serde_json::Value, Failure> {
        match req.method.as_str() {
            HoverRequest::METHOD => self.handle(req, Self::hover),
            GotoDefinition::METHOD => self.handle(req, Self::definition),
            References::METHOD => self.handle(req, Self::references),
            PrepareRenameRequest::METHOD => self.handle(req, Self::prepare_rename),
            Rename::METHOD => self.handle(req, Self::rename),
            DocumentSymbolRequest::METHOD => self.handle(req, Self::symbols),
            CodeActionRequest::METHOD => self.handle(req, Self::code_actions),
            Formatting::METHOD => self.handle(req, Self::format),
            other => Err(failure(
                ErrorCode::MethodNotFound,
                format!("unknown method `{other}`"),
            )),
        }
    }

    fn handle<P: DeserializeOwned, R: Serialize>(
        &mut self,
        req: Request,
        f: fn(&mut Self, P) -> Result<R, Failure>,
    ) -> Result<serde_json::Value, Failure> {
        let params: P = serde_json::from_value(req.params).map_err(|e| {
            failure(
                ErrorCode::InvalidParams,
                format!("invalid parameters for `{}`: {e}", req.method),
            )
        })?;
        to_json(&f(self, params)?)
    }

    fn notification(&mut self, n: Notification) -> Result<(), Error> {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Some(p) = self.params::<DidOpenTextDocumentParams>(n)? {
                    self.open(p)?;
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Some(p) = self.params::<DidChangeTextDocumentParams>(n)? {
                    self.change(p)?;
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Some(p) = self.params::<DidCloseTextDocumentParams>(n)?
                    && self.docs.remove(&p.text_document.uri).is_some()
                {
                    self.notify::<PublishDiagnostics>(PublishDiagnosticsParams {
                        uri: p.text_document.uri,
                        diagnostics: Vec::new(),
                        version: None,
                    })?;
                }
            }
            // Everything else (`initialized`, `$/cancelRequest`, `didSave`, ...) needs nothing.
            _ => {}
        }
        Ok(())
    }

    /// A notification's parameters; ones that do not fit are logged and the notification dropped.
    fn params<P: DeserializeOwned>(&self, n: Notification) -> Result<Option<P>, Error> {
        match serde_json::from_value(n.params) {
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                self.log(
                    MessageType::ERROR,
                    format!("ignored `{}`: invalid parameters: {e}", n.method),
                )?;
                Ok(None)
            }
        }
    }

    fn held_bytes(&self, except: &Uri) -> usize {
        self.docs
            .iter()
            .filter(|(u, _)| *u != except)
            .map(|(_, d)| d.text.as_ref().map_or(0, |t| t.len()))
            .sum()
    }

    /// The text to keep for a document, or why none is kept.
    fn admit(&self, uri: &Uri, text: String) -> Result<String, String> {
        if text.len() > self.limits.document_bytes {
            return Err(format!(
                "this document is {} bytes, more than the language server's limit of {} bytes: it is not analysed",
                text.len(),
                self.limits.document_bytes
            ));
        }
        if self.held_bytes(uri) + text.len() > self.limits.total_bytes {
            return Err(format!(
                "the open documents hold more than the language server's limit of {} bytes: this one is not analysed",
                self.limits.total_bytes
            ));
        }
        Ok(text)
    }

    fn open(&mut self, p: DidOpenTextDocumentParams) -> Result<(), Error> {
        let doc = p.text_document;
        if !self.docs.contains_key(&doc.uri) && self.docs.len() >= self.limits.documents {
            self.log(
                MessageType::WARNING,
                format!(
                    "not opening `{}`: {} documents are open, the limit",
                    doc.uri.as_str(),
                    self.limits.documents
                ),
            )?;
            return Ok(());
        }
        let text = self.admit(&doc.uri, doc.text);
        self.docs.insert(doc.uri, Document::new(doc.version, text));
        Ok(())
    }

    fn change(&mut self, p: DidChangeTextDocumentParams) -> Result<(), Error> {
        let uri = p.text_document.uri;
        let Some(doc) = self.docs.get_mut(&uri) else {
            return self.log(
                MessageType::WARNING,
                format!("ignored a change of `{}`, which is not open", uri.as_str()),
            );
        };
        let mut text = doc
            .text
            .as_deref()
            .map(str::to_string)
            .map_err(Clone::clone);
        // Each ranged change costs a pass over the text: bound the passes of one notification.
        let mut work = 0usize;
        for change in p.content_changes {
            if change.range.is_some()
                && let Ok(t) = &text
            {
                work = work.saturating_add(t.len().max(1));
                if work > self.limits.change_work {
                    text = Err(format!(
                        "one change notification held more edits than the language server applies ({} bytes of passes over the text): this document is out of sync and not analysed until its whole text is sent again",
                        self.limits.change_work
                    ));
                }
            }
            text = match (change.range, text) {
                (None, _) => Ok(change.text),
                (Some(_), Err(why)) => Err(why),
                (Some(range), Ok(mut t)) => {
                    let index = LineIndex::new(&t);
                    match index.span(&t, range) {
                        Some(span)
                            if t.len() - span.len() + change.text.len()
                                <= self.limits.document_bytes =>
                        {
                            t.replace_range(span.start..span.end, &change.text);
                            Ok(t)
                        }
                        Some(_) => Err(format!(
                            "this document grew past the language server's limit of {} bytes: it is not analysed",
                            self.limits.document_bytes
                        )),
                        None => Err(format!(
                            "a change to lines {}..{} does not fit this document: it is out of sync and not analysed until reopened",
                            range.start.line, range.end.line
                        )),
                    }
                }
            };
        }
        let text = match text {
            Ok(t) => self.admit(&uri, t),
            Err(why) => Err(why),
        };
        if let Some(doc) = self.docs.get_mut(&uri) {
            doc.set_text(p.text_document.version, text);
        }
        Ok(())
    }

    /// Publishes the diagnostics of every document changed since they were last published.
    fn publish(&mut self) -> Result<(), Error> {
        let dirty: Vec<Uri> = self
            .docs
            .iter()
            .filter(|(_, d)| d.dirty)
            .map(|(u, _)| u.clone())
            .collect();
        for uri in dirty {
            let config = match self.docs.get(&uri) {
                Some(d) if !d.is_analysed() => self.config_for(&uri)?,
                _ => Config::default(),
            };
            let Some(doc) = self.docs.get_mut(&uri) else {
                continue;
            };
            doc.dirty = false;
            let version = doc.version;
            let caught = catch_unwind(AssertUnwindSafe(|| {
                match doc.analysed(uri.as_str(), &config) {
                    Some(a) => {
                        let text = doc.text.as_deref().unwrap_or_default();
                        diagnostics::to_lsp(&uri, text, &doc.index, &a.findings)
                    }
                    None => vec![diagnostics::not_analysed(
                        doc.text.as_ref().err().cloned().unwrap_or_default(),
                    )],
                }
            }));
            let diags = match caught {
                Ok(d) => d,
                Err(panic) => vec![diagnostics::not_analysed(format!(
                    "internal error in the language server while analysing this document: {}",
                    panic_text(&*panic)
                ))],
            };
            self.notify::<PublishDiagnostics>(PublishDiagnosticsParams {
                uri,
                diagnostics: diags,
                version: Some(version),
            })?;
        }
        Ok(())
    }

    /// The lint levels for a document: those of the nearest `calm.toml` above a `file:` document,
    /// else the defaults. A file that cannot be read or is invalid is logged and ignored.
    fn config_for(&self, uri: &Uri) -> Result<Config, Error> {
        let Some(path) = file_path(uri) else {
            return Ok(Config::default());
        };
        let Some(found) = path
            .ancestors()
            .skip(1)
            .map(|d| d.join("calm.toml"))
            .find(|p| p.is_file())
        else {
            return Ok(Config::default());
        };
        let read = std::fs::metadata(&found)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                if m.len() > 1 << 20 {
                    Err("larger than 1 MiB".to_string())
                } else {
                    std::fs::read_to_string(&found).map_err(|e| e.to_string())
                }
            })
            .and_then(|t| Config::from_toml(&t).map_err(|e| e.to_string()));
        match read {
            Ok(c) => Ok(c),
            Err(why) => {
                self.log(
                    MessageType::WARNING,
                    format!("ignored `{}`: {why}", found.display()),
                )?;
                Ok(Config::default())
            }
        }
    }

    /// The open document `uri`, its text and its analysis (`Ok(None)` when it holds no text).
    fn doc(&mut self, uri: &Uri) -> Result<Option<Open>, Failure> {
        let not_open = || {
            failure(
                ErrorCode::InvalidParams,
                format!("`{}` is not open", uri.as_str()),
            )
        };
        let fresh = self.docs.get(uri).ok_or_else(not_open)?.is_analysed();
        let config = if fresh {
            Config::default()
        } else {
            self.config_for(uri)
                .map_err(|_| failure(ErrorCode::InternalError, "the client is gone"))?
        };
        let doc = self.docs.get_mut(uri).ok_or_else(not_open)?;
        let Some(a) = doc.analysed(uri.as_str(), &config) else {
            return Ok(None);
        };
        let Ok(text) = doc.text.clone() else {
            return Ok(None);
        };
        Ok(Some(Open {
            a,
            text,
            index: Rc::clone(&doc.index),
        }))
    }

    /// The document, and the byte offset of `pos` in it.
    fn at(&mut self, p: &TextDocumentPositionParams) -> Result<Option<(Open, usize)>, Failure> {
        let Some(open) = self.doc(&p.text_document.uri)? else {
            return Ok(None);
        };
        let offset = offset(&open.index, &open.text, p.position)?;
        Ok(Some((open, offset)))
    }

    fn hover(&mut self, p: HoverParams) -> Result<Option<Hover>, Failure> {
        let Some((Open { a, text, index }, offset)) = self.at(&p.text_document_position_params)?
        else {
            return Ok(None);
        };
        let Some(occ) = a.occurrences.at(offset) else {
            return Ok(None);
        };
        let value = hover::relation(&a, &text, &occ.name, |o| index.position(&text, o).line + 1);
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value,
            }),
            range: Some(index.range(&text, occ.span)),
        }))
    }

    fn definition(
        &mut self,
        p: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>, Failure> {
        let uri = p.text_document_position_params.text_document.uri.clone();
        let Some((Open { a, text, index }, offset)) = self.at(&p.text_document_position_params)?
        else {
            return Ok(None);
        };
        let Some(occ) = a.occurrences.at(offset) else {
            return Ok(None);
        };
        let spans = navigate::definition(&a, &occ.name);
        if spans.is_empty() {
            return Ok(None);
        }
        Ok(Some(GotoDefinitionResponse::Array(locations(
            &uri, &text, &index, &spans,
        ))))
    }

    fn references(&mut self, p: ReferenceParams) -> Result<Option<Vec<Location>>, Failure> {
        let uri = p.text_document_position.text_document.uri.clone();
        let Some((Open { a, text, index }, offset)) = self.at(&p.text_document_position)? else {
            return Ok(None);
        };
        let Some(occ) = a.occurrences.at(offset) else {
            return Ok(None);
        };
        let spans = navigate::references(&a, &occ.name, p.context.include_declaration);
        Ok(Some(locations(&uri, &text, &index, &spans)))
    }

    fn prepare_rename(
        &mut self,
        p: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>, Failure> {
        let Some((Open { a, text, index }, offset)) = self.at(&p)? else {
            return Ok(None);
        };
        let Some(occ) = a.occurrences.at(offset) else {
            return Ok(None);
        };
        if occ.name.starts_with('$') {
            return Err(failure(
                ErrorCode::RequestFailed,
                navigate::RenameError::Builtin(occ.name.clone()).to_string(),
            ));
        }
        if a.occurrences.hidden.contains(&occ.name) {
            return Err(failure(
                ErrorCode::RequestFailed,
                navigate::RenameError::InComponent(occ.name.clone()).to_string(),
            ));
        }
        Ok(Some(PrepareRenameResponse::RangeWithPlaceholder {
            range: index.range(&text, occ.span),
            placeholder: occ.name.clone(),
        }))
    }

    fn rename(&mut self, p: RenameParams) -> Result<Option<WorkspaceEdit>, Failure> {
        let uri = p.text_document_position.text_document.uri.clone();
        let Some((Open { a, text, index }, offset)) = self.at(&p.text_document_position)? else {
            return Ok(None);
        };
        let spans = navigate::rename(&a, &text, offset, &p.new_name)
            .map_err(|e| failure(ErrorCode::RequestFailed, e.to_string()))?;
        let edits = spans
            .iter()
            .map(|s| TextEdit {
                range: index.range(&text, *s),
                new_text: p.new_name.clone(),
            })
            .collect();
        Ok(Some(WorkspaceEdit {
            changes: Some(HashMap::from([(uri, edits)])),
            ..WorkspaceEdit::default()
        }))
    }

    fn symbols(
        &mut self,
        p: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>, Failure> {
        let Some(Open { a, text, index }) = self.doc(&p.text_document.uri)? else {
            return Ok(None);
        };
        #[allow(deprecated)] // `deprecated` is a required field of the type.
        let symbols = navigate::symbols(&a, &text)
            .into_iter()
            .map(|s| DocumentSymbol {
                name: s.name,
                detail: s.detail,
                kind: match s.kind {
                    navigate::SymbolKind::Relation => SymbolKind::STRUCT,
                    navigate::SymbolKind::Type => SymbolKind::TYPE_PARAMETER,
                    navigate::SymbolKind::Directive => SymbolKind::PROPERTY,
                    navigate::SymbolKind::Rule => SymbolKind::FUNCTION,
                    navigate::SymbolKind::Fact => SymbolKind::CONSTANT,
                },
                tags: None,
                deprecated: None,
                range: index.range(&text, s.span),
                selection_range: index.range(&text, s.name_span),
                children: None,
            })
            .collect();
        Ok(Some(DocumentSymbolResponse::Nested(symbols)))
    }

    fn code_actions(
        &mut self,
        p: CodeActionParams,
    ) -> Result<Option<Vec<CodeActionOrCommand>>, Failure> {
        let uri = p.text_document.uri.clone();
        let Some(Open { a, text, index }) = self.doc(&uri)? else {
            return Ok(None);
        };
        let range = index.span(&text, p.range).ok_or_else(|| {
            failure(
                ErrorCode::InvalidParams,
                format!(
                    "the range {}:{}..{}:{} is not in the document ({} lines)",
                    p.range.start.line,
                    p.range.start.character,
                    p.range.end.line,
                    p.range.end.character,
                    index.lines()
                ),
            )
        })?;
        // Only quick fixes are offered: none when the client asks for other kinds.
        if let Some(only) = &p.context.only
            && !only
                .iter()
                .any(|k| CodeActionKind::QUICKFIX.as_str().starts_with(k.as_str()))
        {
            return Ok(Some(Vec::new()));
        }
        let actions = actions::suppressions(&a, &text, range)
            .into_iter()
            .map(|ins| {
                let diags: Vec<_> = a
                    .findings
                    .iter()
                    .filter(|f| f.span == ins.finding && f.code == ins.code)
                    .cloned()
                    .collect();
                let pos = index.position(&text, ins.at);
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: format!(
                        "Suppress {} ({}) here: `// calm: allow({})` with a reason to write",
                        ins.code, ins.name, ins.code
                    ),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(diagnostics::to_lsp(&uri, &text, &index, &diags)),
                    edit: Some(WorkspaceEdit {
                        changes: Some(HashMap::from([(
                            uri.clone(),
                            vec![TextEdit {
                                range: lsp_types::Range {
                                    start: pos,
                                    end: pos,
                                },
                                new_text: ins.text,
                            }],
                        )])),
                        ..WorkspaceEdit::default()
                    }),
                    ..CodeAction::default()
                })
            })
            .collect();
        Ok(Some(actions))
    }

    /// The whole document in `calm fmt`'s layout, as one edit (none when it is already
    /// formatted). A program with errors is not formatted: no edits, and a logged message.
    /// The client's formatting options are not used: there is one canonical layout.
    fn format(&mut self, p: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>, Failure> {
        let uri = p.text_document.uri;
        let Some(Open { text, index, .. }) = self.doc(&uri)? else {
            return Ok(None);
        };
        match calm_syntax::format::format_source(&text) {
            Ok(out) if *out == *text => Ok(Some(Vec::new())),
            Ok(out) => Ok(Some(vec![TextEdit {
                range: lsp_types::Range {
                    start: Position::default(),
                    end: index.position(&text, text.len()),
                },
                new_text: out,
            }])),
            Err(e) => {
                self.log(
                    MessageType::INFO,
                    format!("not formatting `{}`: {e}", uri.as_str()),
                )
                .map_err(|_| failure(ErrorCode::InternalError, "the client is gone"))?;
                Ok(Some(Vec::new()))
            }
        }
    }
}

fn to_json<R: Serialize>(r: &R) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(r).map_err(|e| failure(ErrorCode::InternalError, e.to_string()))
}

/// The byte offset of `pos`, or an `InvalidParams` failure for a line past the end.
fn offset(index: &LineIndex, text: &str, pos: Position) -> Result<usize, Failure> {
    index.offset(text, pos).ok_or_else(|| {
        failure(
            ErrorCode::InvalidParams,
            format!(
                "line {} is past the end of the document ({} lines)",
                pos.line,
                index.lines()
            ),
        )
    })
}

fn locations(uri: &Uri, text: &str, index: &LineIndex, spans: &[Span]) -> Vec<Location> {
    spans
        .iter()
        .map(|s| Location {
            uri: uri.clone(),
            range: index.range(text, *s),
        })
        .collect()
}

/// The local path of a `file:` URI (`file:///a%20b/c.dl` is `/a b/c.dl`).
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let rest = s
        .strip_prefix("file://")
        .or_else(|| s.strip_prefix("FILE://"))?;
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = path.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    let decoded = String::from_utf8(out).ok()?;
    // `file:///C:/x` on Windows.
    let decoded = match decoded.get(1..3) {
        Some(drive) if cfg!(windows) && drive.ends_with(':') => decoded[1..].to_string(),
        _ => decoded,
    };
    Some(PathBuf::from(decoded))
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(
            file_path(&uri("file:///tmp/a%20b/c.dl")),
            Some(PathBuf::from("/tmp/a b/c.dl"))
        );
        assert_eq!(
            file_path(&uri("file://localhost/x.dl")),
            Some(PathBuf::from("/x.dl"))
        );
        assert_eq!(file_path(&uri("untitled:Untitled-1")), None);
    }
}
