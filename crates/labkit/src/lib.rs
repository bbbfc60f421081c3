//! Pure shared types: the lab content model (labs, steps, tasks, checks), its loader and
//! validator (every error with file and line), and the JSON exchanged between the in-lab agent
//! (probes) and the server's grader.
//!
//! No I/O beyond reading a lab directory; no async runtime.

pub mod check;
pub mod content;
pub mod validate;
pub mod wire;

pub use check::{
    AnswerCheck, Check, CommandCheck, ProbeCheck, ProbeExpect, RuleAssert, RulesCheck, StateCheck,
};
pub use content::{Catalog, HostCommand, Lab, ProxyMode, ReferenceAnswer, RunBlock, Step, Task};
pub use validate::{Diagnostic, Diagnostics};
