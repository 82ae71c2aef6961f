//! The chaos test's unit-testable parts: the seeded fault schedule ([`schedule`]), the history a
//! workload records ([`history`]), the Jepsen-style checker ([`checker`]) and the report table
//! ([`report`]). The binary `calm-chaos` runs real `calm node` processes in network namespaces,
//! injects the schedule's faults and feeds what it observed to the checker.

pub mod checker;
pub mod history;
pub mod report;
pub mod rng;
pub mod schedule;
