//! A small blocking client for a node's HTTP API, shared by `insert`, `query` and `status`.

use anyhow::{Context as _, bail};
use serde_json::Value as Json;
use std::time::Duration;

/// Largest response read, bytes.
const MAX_RESPONSE: u64 = 1 << 30;

/// What went wrong talking to a node.
pub enum ClientError {
    /// The node answered with an error status: the request was refused (exit 1).
    Refused(String),
    /// The node could not be reached or answered nonsense (exit 2).
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for ClientError {
    fn from(e: anyhow::Error) -> Self {
        ClientError::Failed(e)
    }
}

/// A node's API.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    /// `Authorization` header value, if the node needs a token.
    authorization: Option<String>,
}

/// Reads a bearer token from `path`.
fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let secret =
        calm_node::Secret::token_from_file("--token-file", path).map_err(anyhow::Error::msg)?;
    let token = std::str::from_utf8(secret.bytes())
        .ok()
        .filter(|t| t.bytes().all(|b| b.is_ascii_graphic()))
        .with_context(|| {
            format!(
                "--token-file `{}`: a token is printable ASCII without spaces",
                path.display()
            )
        })?;
    Ok(format!("Bearer {token}"))
}

impl Client {
    /// Sends the token in `path` with every request (a node started with `--token-file`
    /// needs it). Without a path, the file named by `CALM_TOKEN_FILE`, if set, is used.
    pub fn token_file(mut self, path: Option<&std::path::Path>) -> anyhow::Result<Client> {
        let env = std::env::var_os("CALM_TOKEN_FILE").filter(|v| !v.is_empty());
        let path = path
            .map(std::path::Path::to_path_buf)
            .or(env.map(Into::into));
        if let Some(p) = path {
            self.authorization = Some(read_token(&p)?);
        }
        Ok(self)
    }

    /// `url` is `http://host:port` (a bare `host:port` is accepted).
    pub fn new(url: &str) -> anyhow::Result<Client> {
        let url = url.trim().trim_end_matches('/');
        if url.is_empty() {
            bail!("--node: expected the node's HTTP address, e.g. http://127.0.0.1:8001");
        }
        let base = if url.contains("://") {
            if !url.starts_with("http://") {
                bail!("--node `{url}`: only http:// is supported");
            }
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let client = Client {
            agent,
            base,
            authorization: None,
        };
        client.token_file(None)
    }

    fn finish(
        &self,
        path: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, ClientError> {
        let mut resp = r.with_context(|| format!("cannot reach the node at {}", self.base))?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .with_context(|| format!("reading the answer to {path}"))?;
        if status.is_success() {
            return Ok(text);
        }
        let message = serde_json::from_str::<Json>(&text)
            .ok()
            .and_then(|j| j.get("error").and_then(Json::as_str).map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string());
        if status.is_client_error() {
            Err(ClientError::Refused(message))
        } else {
            Err(ClientError::Failed(anyhow::anyhow!(
                "the node answered {status}: {message}"
            )))
        }
    }

    /// `GET path`: the body of a successful answer.
    pub fn get(&self, path: &str) -> Result<String, ClientError> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let r = req.call();
        self.finish(path, r)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Json) -> Result<String, ClientError> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .content_type("application/json");
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let r = req.send(body.to_string());
        self.finish(path, r)
    }
}

/// Parses a successful answer as JSON.
pub fn json(text: &str) -> anyhow::Result<Json> {
    serde_json::from_str(text).context("the node's answer is not JSON")
}

/// Percent-encodes a path segment or query component.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Turns a client result into an exit code: refusals print the node's message and exit 1.
pub fn exit(r: Result<(), ClientError>) -> anyhow::Result<std::process::ExitCode> {
    match r {
        Ok(()) => Ok(std::process::ExitCode::SUCCESS),
        Err(ClientError::Refused(msg)) => {
            eprintln!("error: {msg}");
            Ok(std::process::ExitCode::from(1))
        }
        Err(ClientError::Failed(e)) => Err(e),
    }
}
