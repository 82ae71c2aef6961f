//! The engines a workload is run with, and their command lines.

use std::ffi::OsString;
use std::path::Path;

use super::workloads::Workload;

/// An engine under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// `calm run PROGRAM -F DIR`, on the shared program unchanged.
    Calm,
    /// `datafrog-hand WORKLOAD DIR`: the hand-written datafrog baseline.
    DatafrogHand,
    /// `datafrog-hand andersen-leap DIR`: the leapjoin variant; andersen only.
    DatafrogLeap,
    /// `ascent-hand WORKLOAD DIR`: the workload in Ascent's `ascent_run!`.
    Ascent,
}

impl Engine {
    /// Every engine, in table order.
    pub const ALL: [Engine; 4] = [
        Engine::Calm,
        Engine::DatafrogHand,
        Engine::DatafrogLeap,
        Engine::Ascent,
    ];

    /// Its name in `--engines` and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Calm => "calm",
            Engine::DatafrogHand => "datafrog-hand",
            Engine::DatafrogLeap => "datafrog-leap",
            Engine::Ascent => "ascent",
        }
    }

    /// Whether it is one of the hand-written datafrog baselines.
    pub fn is_datafrog(self) -> bool {
        matches!(self, Engine::DatafrogHand | Engine::DatafrogLeap)
    }

    /// The engine called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// File name of its binary in the binary directory.
    pub fn binary(self) -> &'static str {
        match self {
            Engine::Calm => "calm",
            Engine::DatafrogHand | Engine::DatafrogLeap => "datafrog-hand",
            Engine::Ascent => "ascent-hand",
        }
    }

    /// Its arguments for `workload`, or `None` when it does not apply to the workload.
    pub fn args(self, workload: &Workload, program: &Path, dir: &Path) -> Option<Vec<OsString>> {
        match self {
            Engine::Calm => Some(vec!["run".into(), program.into(), "-F".into(), dir.into()]),
            Engine::DatafrogHand if !workload.datafrog => None,
            Engine::DatafrogHand | Engine::Ascent => Some(vec![workload.name.into(), dir.into()]),
            Engine::DatafrogLeap if workload.name == "andersen" => {
                Some(vec!["andersen-leap".into(), dir.into()])
            }
            Engine::DatafrogLeap => None,
        }
    }
}
