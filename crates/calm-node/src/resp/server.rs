//! The RESP listener: connections bounded in number (in all and per IP address), in idle time
//! and in buffered bytes; commands of a connection run in order, pipelined replies written
//! together.

use super::NodeStore;
use super::commands::{After, Session, run};
use super::proto::{FrameLimits, parse_command, reply};
use crate::{NodeHandle, Secret};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Serves RESP on `listener` for the node of `handle` until `shutdown` resolves. `token`, if
/// given, must be presented with `AUTH` before any other command. Like the HTTP API, the
/// server runs on the node's tick thread without a data directory (see
/// [`crate::http::serve_with`]); the returned future only waits for it.
pub async fn serve(
    listener: TcpListener,
    handle: NodeHandle,
    token: Option<Arc<Secret>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    handle
        .serve_clients(listener, move |l, h| serve_here(l, h, token, shutdown))
        .await
}

async fn serve_here(
    listener: TcpListener,
    handle: NodeHandle,
    token: Option<Arc<Secret>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = handle.limits().clone();
    let frame = FrameLimits {
        max_bulk: limits.max_string_len.max(1),
        max_args: limits
            .max_facts_per_request
            .saturating_mul(2)
            .saturating_add(2),
        max_inline: 64 << 10,
    };
    // A request in flight is at most what an HTTP request may be, and at least one string.
    let max_buffer = crate::config::DEFAULT_MAX_BODY.max(frame.max_bulk + 1024);
    let store = Arc::new(NodeStore::new(handle));
    let slots = Arc::new(Semaphore::new(limits.max_http_connections.max(1)));
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let max_per_ip = limits.max_http_connections_per_ip.max(1);
    let idle = limits.http_idle_timeout;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (sock, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "RESP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%addr, "RESP connection refused: too many connections");
            continue;
        };
        let ip = addr.ip();
        {
            let mut m = per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let n = m.entry(ip).or_insert(0);
            if *n >= max_per_ip {
                tracing::debug!(%addr, "RESP connection refused: too many from this address");
                continue;
            }
            *n += 1;
        }
        let (store, token, per_ip) = (store.clone(), token.clone(), per_ip.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let _ = sock.set_nodelay(true);
            connection(sock, &store, token.as_deref(), &frame, max_buffer, idle).await;
            let mut m = per_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        });
    }
}

async fn connection(
    mut sock: TcpStream,
    store: &NodeStore,
    token: Option<&Secret>,
    frame: &FrameLimits,
    max_buffer: usize,
    idle: Duration,
) {
    let mut session = Session {
        authenticated: token.is_none(),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        let mut used = 0;
        let mut close = false;
        loop {
            match parse_command(&buf[used..], frame) {
                Ok(Some((args, n))) => {
                    used += n;
                    if run(store, token, &mut session, &args, &mut out).await == After::Close {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    reply::error(&mut out, &format!("ERR {e}"));
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..used);
        if !close && buf.len() > max_buffer {
            reply::error(
                &mut out,
                &format!("ERR Protocol error: a request over {max_buffer} bytes"),
            );
            close = true;
        }
        if !out.is_empty() {
            match tokio::time::timeout(idle, sock.write_all(&out)).await {
                Ok(Ok(())) => out.clear(),
                _ => return,
            }
        }
        if close {
            let _ = sock.shutdown().await;
            return;
        }
        match tokio::time::timeout(idle, sock.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
}
