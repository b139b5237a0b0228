//! The `zhengqi` command: runs the whole suite in one process (`up`), one part
//! of it (`serve`), mints development tokens (`token`), runs migrations
//! (`migrate`), checks and exports reference data (`reference`) and measures
//! throughput (`bench`). It wires the crates together
//! and holds no domain rule.
#![forbid(unsafe_code)]

pub mod cli;
pub mod reference;
pub mod suite;
