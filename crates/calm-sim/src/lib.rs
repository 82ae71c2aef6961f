//! `calm sim`: deterministic simulation that tests the CALM theorem on the real node code.
//!
//! The analyzer says which programs are monotone; the simulator shows what that means. It runs
//! N instances of the node ([`calm_node::Stepper`] around a [`calm_node::core::NodeCore`], the
//! same code `calm node` runs between its sockets, with the node's own redb store on an
//! in-memory file for nodes that restart from it) in one thread, on a simulated network driven
//! by a seed, through message delays and reordering, lost and duplicated messages (recovered by
//! the links' retransmission), ticks that cut the stream of arrivals at different places,
//! partitions, crashes and restarts from the store. It runs each seed to quiescence and compares every node's outputs across
//! seeds, and with `calm run` of all the facts at one node. A monotone program reaches the same
//! outcome under every schedule; a non-monotone one can be caught disagreeing.
//!
//! - [`rng`]: the seeded generator (no other randomness, no wall clock, no hash-map order).
//! - [`placement`]: which node holds which input fact.
//! - [`net`]: simulated time and the faults, beneath the node's own link protocol
//!   (`calm_node::link_state::LinkState`, driven by [`sim`]).
//! - [`sim`]: one schedule, to quiescence.
//! - [`trace`]: readable events and the run's hash.
//! - [`verdict`]: many seeds, grouped by outcome; counterexamples; the report.
//!
//! ```
//! use calm_sim::{Options, Setup, check};
//! let program = calm_engine::Program::compile("gset.dl", "
//!     .decl add(x: number)
//!     .decl set(at: symbol, x: number)
//!     .persist set
//!     .output set
//!     set(@n, x)@async :- add(x), $member(n).
//!     add(1). add(2).
//! ").unwrap();
//! let setup = Setup::new("gset.dl", program, Default::default(), None, Options::default()).unwrap();
//! let report = check(&setup, 1, 20, 1, &|_| {});
//! assert!(report.confluent());
//! ```

pub mod net;
pub mod placement;
pub mod rng;
pub mod sim;
pub mod trace;
pub mod verdict;

pub use net::{Chaos, Faults, Stats};
pub use placement::{Facts, Placement, PlacementError, read_facts};
pub use sim::{NodeOutputs, Outcome, SeedRun, run_seed};
pub use verdict::{Reference, Report, check};

use calm_engine::Program;

/// How a node gets its input facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputMode {
    /// As `.input` files read at start (like `calm run -F`): facts of a relation without state
    /// over time hold at every tick; facts of a `.persist` or `@next` relation are its initial
    /// state. Read again after a crash.
    #[default]
    Files,
    /// As client inserts (`calm insert`), at random times: events of the tick that takes them.
    /// Inserted again after a crash (acknowledged inserts are durable).
    Inserts,
}

impl InputMode {
    /// `files` or `inserts`.
    pub fn as_str(self) -> &'static str {
        match self {
            InputMode::Files => "files",
            InputMode::Inserts => "inserts",
        }
    }
}

/// How to simulate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of nodes, named `n1` .. `nN`.
    pub nodes: usize,
    /// The faults schedules may contain.
    pub faults: Faults,
    /// The numbers behind them.
    pub chaos: Chaos,
    /// How input facts reach the nodes.
    pub inputs: InputMode,
    /// Compare every relation, not only the outputs.
    pub all_relations: bool,
    /// Ticks (all nodes together) after which a schedule counts as not quiescing.
    pub max_ticks: u64,
    /// The seed of the default spread of input facts over the nodes.
    pub placement_seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            faults: Faults::all(),
            chaos: Chaos::default(),
            inputs: InputMode::Files,
            all_relations: false,
            max_ticks: 20_000,
            placement_seed: 0,
        }
    }
}

/// The analyzer's verdict on the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyzerVerdict {
    /// Whether it calls the program coordination-free.
    pub coordination_free: bool,
    /// Its verdict in words (`coordination-free`, `needs coordination (2 points of order)`).
    pub verdict: String,
}

/// Everything a schedule needs, prepared once: the program, the nodes, the placement of the
/// input facts, the relations compared.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The program's file name, for reports.
    pub name: String,
    /// The program.
    pub program: Program,
    /// The node names, `n1` .. `nN`.
    pub names: Vec<String>,
    /// All input facts.
    pub facts: Facts,
    /// Which node holds which.
    pub placement: Placement,
    /// The relations compared: the outputs (`.output`, `.printsize`), or every relation if the
    /// program has none or [`Options::all_relations`] is set.
    pub relations: Vec<String>,
    /// The options.
    pub options: Options,
    /// What the analyzer says.
    pub analyzer: AnalyzerVerdict,
    /// The timer inputs (`.input r(IO=timer, period="250ms")`): relation, arity (0 or 1) and
    /// period in units of simulated time (one unit is a millisecond of the period).
    pub timers: Vec<Timer>,
}

/// A timer input of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer {
    /// The relation.
    pub relation: String,
    /// The period, in units of simulated time.
    pub period: u64,
}

/// Why a simulation cannot be set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// A problem in the placement file.
    Placement(PlacementError),
    /// A timer input the node would refuse too.
    Timer(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Placement(e) => write!(f, "placement file, {e}"),
            SetupError::Timer(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for SetupError {}

/// The program's timer inputs, checked as `calm node` checks them.
fn timers(program: &Program) -> Result<Vec<Timer>, SetupError> {
    let timers = calm_node::timer_inputs(program).map_err(SetupError::Timer)?;
    Ok(timers
        .into_iter()
        .map(|(relation, d)| Timer {
            relation,
            period: (d.as_millis() as u64).max(1),
        })
        .collect())
}

impl Setup {
    /// Prepares a simulation of `program` (compiled from file `name`) with input `facts`
    /// (see [`read_facts`]), placed by the text of a placement file, if any.
    pub fn new(
        name: &str,
        program: Program,
        facts: Facts,
        placement_file: Option<&str>,
        options: Options,
    ) -> Result<Setup, SetupError> {
        let timers = timers(&program)?;
        let names: Vec<String> = (1..=options.nodes.max(1))
            .map(|i| format!("n{i}"))
            .collect();
        let placement = Placement::new(
            &program,
            &names,
            &facts,
            placement_file,
            options.placement_seed,
        )
        .map_err(SetupError::Placement)?;
        let ir = program.ir();
        let visible: Vec<&calm_ir::Relation> = ir
            .relations
            .iter()
            .filter(|r| r.builtin.is_none())
            .collect();
        let outputs: Vec<String> = visible
            .iter()
            .filter(|r| !r.outputs.is_empty() || r.printsize)
            .map(|r| r.name.clone())
            .collect();
        let mut relations = if outputs.is_empty() || options.all_relations {
            visible.iter().map(|r| r.name.clone()).collect()
        } else {
            outputs
        };
        relations.sort();
        let report = calm_analyzer::check(
            program.sources(),
            program.file(),
            &calm_analyzer::Config::default(),
        );
        let analyzer = AnalyzerVerdict {
            coordination_free: report.summary.coordination_free(),
            verdict: report.summary.verdict(),
        };
        Ok(Setup {
            name: name.to_string(),
            program,
            names,
            facts,
            placement,
            relations,
            options,
            analyzer,
            timers,
        })
    }
}
