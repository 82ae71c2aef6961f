//! The calm node: one program run as a relational transducer on the network.
//!
//! Each tick the node **ingests** an unordered batch of events (facts from peers, client
//! inserts, timers), **queries** (one engine tick: rules to fixpoint, strata in order) and
//! **sends** (`@async` facts to their destinations; `@next` facts to its own next tick).
//! Peers talk over TCP with length-delimited bincode frames ([`wire`]); delivery is
//! at-least-once with acknowledgements and retransmission: the protocol is the state machine
//! [`link_state::LinkState`], without I/O, which the tokio links drive over TCP (and the
//! simulator, `calm-sim`, through its faulty network).
//!
//! ```no_run
//! # async fn demo() -> Result<(), calm_node::NodeError> {
//! use calm_engine::{Program, Value};
//! use calm_node::{NodeConfig, Limits, start};
//! let program = Program::compile("p.dl", "seen(x) :- ping(x).\n.decl ping(x: number)\n").unwrap();
//! let node = start(NodeConfig {
//!     name: "n1".into(),
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     peers: vec![],
//!     program,
//!     limits: Limits::default(),
//! })
//! .await?;
//! node.handle.insert(vec![("ping".into(), vec![Value::Number(1)])]).await?;
//! assert_eq!(node.handle.query("seen", vec![]).await?.len(), 1);
//! # Ok(()) }
//! ```

pub mod auth;
pub mod config;
pub mod console;
pub mod core;
pub mod durable;
pub mod http;
pub mod limits;
mod link;
pub mod link_state;
pub mod metrics;
mod node;
mod outbox;
pub mod resp;
mod sent;
pub mod stepper;
pub mod store;
mod warnings;
pub mod wire;
pub mod wire_io;

pub use auth::Secret;
pub use config::{ConfigError, Settings};
pub use durable::SnapshotPolicy;
pub use limits::Limits;
pub use metrics::Metrics;
pub use node::{
    Node, NodeConfig, NodeError, NodeHandle, NodeOptions, Peer, PeerStatus, Status, Update,
    parse_duration, start, start_with, timer_inputs,
};
pub use stepper::{Step, Stepped, Stepper};
