//! One module per subcommand: build library objects, call them, print.

pub mod bench;
pub mod eval;
pub mod generate;
pub mod init;
pub mod merge;
pub mod report;
pub mod tasks;
pub mod train;
