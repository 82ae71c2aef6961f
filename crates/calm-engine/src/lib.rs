//! The calm engine: plans and evaluates calm programs on datafrog. Synchronous; no I/O runtime.
//!
//! A [`Program`] is compiled once (parsed, checked, stratified, planned); an [`Engine`] holds a
//! database, takes facts, runs ticks to quiescence and hands relations back.
//!
//! ```
//! use calm_engine::{Engine, Program, Value};
//! let program = Program::compile("tc.dl", "
//!     path(x, y) :- edge(x, y).
//!     path(x, z) :- path(x, y), edge(y, z).
//! ").unwrap();
//! let mut engine = Engine::new(&program);
//! engine.insert("edge", vec![
//!     vec![Value::Number(1), Value::Number(2)],
//!     vec![Value::Number(2), Value::Number(3)],
//! ]).unwrap();
//! engine.run().unwrap();
//! assert_eq!(engine.relation("path").unwrap().len(), 3);
//! ```

mod api;
mod csv;
mod emit;
mod eval;
mod incr;
mod index;
pub mod io;
mod merge;
mod plan;
mod record;
mod seen;
mod value;

pub use api::{
    Changes, CompileError, Engine, EngineError, EngineSnapshot, Message, Program, RunReport,
    TickOutput,
};
pub use value::Value;
