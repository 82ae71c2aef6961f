//! The benchmark workloads, their input data sets and the expected results (from the shared
//! bench README).

/// One of the generated input directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSet {
    /// `gen.py 2000 10000 42` -> `edge.facts` (tc, sg, agg, sssp, apsp).
    Graph,
    /// `gen.py 20000 24000 7` -> `edge.facts`, plus `source.facts` holding 0..299 (neg).
    Neg,
    /// `gen_andersen.py 2000 42` -> `addressOf`, `assign`, `load`, `store` facts (andersen).
    Andersen,
}

impl DataSet {
    /// Directory name under the data directory; it names the generator parameters.
    pub fn dir_name(self) -> &'static str {
        match self {
            DataSet::Graph => "graph-2000-10000-42",
            DataSet::Neg => "neg-20000-24000-7",
            DataSet::Andersen => "andersen-2000-42",
        }
    }

    /// The `.facts` files the directory must hold.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            DataSet::Graph => &["edge.facts"],
            DataSet::Neg => &["edge.facts", "source.facts"],
            DataSet::Andersen => &[
                "addressOf.facts",
                "assign.facts",
                "load.facts",
                "store.facts",
            ],
        }
    }
}

/// What an expected figure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The size of the relation, printed by `.printsize` as `name\tsize`.
    Size,
    /// The single value of a one-row relation, printed by `.output name(IO=stdout)`.
    Value,
}

/// One expected figure of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Relation name.
    pub relation: &'static str,
    /// Size or value.
    pub kind: Kind,
    /// The expected number.
    pub value: u64,
}

/// Where a workload's calm program lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramDir {
    /// The shared bench directory's `programs/` (the Souffle programs, run unchanged).
    Shared,
    /// `crates/calm-bench/programs/` (calm's own: lattice columns, which Souffle lacks).
    Bench,
}

/// A benchmark workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Name, as given to `--only` and to `datafrog-hand`.
    pub name: &'static str,
    /// Program file name in `dir`.
    pub program: &'static str,
    /// The directory of the program.
    pub dir: ProgramDir,
    /// Whether the hand-written datafrog baseline implements it.
    pub datafrog: bool,
    /// Its input directory.
    pub data: DataSet,
    /// Its expected figures.
    pub expected: &'static [Expected],
}

const fn size(relation: &'static str, value: u64) -> Expected {
    Expected {
        relation,
        kind: Kind::Size,
        value,
    }
}

/// All workloads, in the order they are run.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "tc",
        program: "tc.dl",
        dir: ProgramDir::Shared,
        datafrog: true,
        data: DataSet::Graph,
        expected: &[size("path", 3_954_133)],
    },
    Workload {
        name: "sg",
        program: "sg.dl",
        dir: ProgramDir::Shared,
        datafrog: true,
        data: DataSet::Graph,
        expected: &[size("sg", 3_956_121)],
    },
    Workload {
        name: "agg",
        program: "agg.dl",
        dir: ProgramDir::Shared,
        datafrog: true,
        data: DataSet::Graph,
        expected: &[
            size("reach_count", 1_989),
            Expected {
                relation: "max_reach",
                kind: Kind::Value,
                value: 1_989,
            },
        ],
    },
    Workload {
        name: "neg",
        program: "neg.dl",
        dir: ProgramDir::Shared,
        datafrog: true,
        data: DataSet::Neg,
        expected: &[size("unreach", 4_840_470)],
    },
    Workload {
        name: "andersen",
        program: "andersen.dl",
        dir: ProgramDir::Shared,
        datafrog: true,
        data: DataSet::Andersen,
        expected: &[size("pointsTo", 906_647)],
    },
    // Shortest paths with a `min` lattice column (calm and Ascent only), on the graph above
    // with the weight of edge (a, b) computed from its ids: see BENCHMARKS.md, "Lattices".
    Workload {
        name: "sssp",
        program: "sssp.dl",
        dir: ProgramDir::Bench,
        datafrog: false,
        data: DataSet::Graph,
        expected: &[
            size("dist", 1_989),
            Expected {
                relation: "dist_total",
                kind: Kind::Value,
                value: 420_217,
            },
        ],
    },
    Workload {
        name: "apsp",
        program: "apsp.dl",
        dir: ProgramDir::Bench,
        datafrog: false,
        data: DataSet::Graph,
        expected: &[
            size("sp", 3_954_133),
            Expected {
                relation: "sp_total",
                kind: Kind::Value,
                value: 686_669_030,
            },
        ],
    },
];

/// The workload called `name`.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::engines::Engine;
    use std::path::Path;

    /// Every program the driver runs from this crate exists, and only calm and Ascent run the
    /// lattice workloads.
    #[test]
    fn lattice_workloads_run_calm_and_ascent() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in ["sssp", "apsp"] {
            let w = find(name).unwrap();
            assert_eq!(w.dir, ProgramDir::Bench);
            let program = root.join("programs").join(w.program);
            assert!(program.is_file(), "{}", program.display());
            let dir = Path::new("data");
            assert!(Engine::Calm.args(w, &program, dir).is_some());
            assert!(Engine::Ascent.args(w, &program, dir).is_some());
            assert!(Engine::DatafrogHand.args(w, &program, dir).is_none());
            assert!(Engine::DatafrogLeap.args(w, &program, dir).is_none());
        }
        assert!(
            Engine::DatafrogHand
                .args(find("tc").unwrap(), Path::new("tc.dl"), Path::new("d"))
                .is_some()
        );
    }
}
