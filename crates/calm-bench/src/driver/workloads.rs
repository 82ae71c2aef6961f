//! The benchmark workloads, their input data sets and the expected results (from the shared
//! bench README).

/// One of the generated input directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSet {
    /// `gen.py 2000 10000 42` -> `edge.facts` (tc, sg, agg).
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

/// A benchmark workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Name, as given to `--only` and to `datafrog-hand`.
    pub name: &'static str,
    /// Program file name in the shared `programs/` directory.
    pub program: &'static str,
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
        data: DataSet::Graph,
        expected: &[size("path", 3_954_133)],
    },
    Workload {
        name: "sg",
        program: "sg.dl",
        data: DataSet::Graph,
        expected: &[size("sg", 3_956_121)],
    },
    Workload {
        name: "agg",
        program: "agg.dl",
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
        data: DataSet::Neg,
        expected: &[size("unreach", 4_840_470)],
    },
    Workload {
        name: "andersen",
        program: "andersen.dl",
        data: DataSet::Andersen,
        expected: &[size("pointsTo", 906_647)],
    },
];

/// The workload called `name`.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}
