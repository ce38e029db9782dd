//! End-to-end tests of the `rlvr` binary (one integration binary; one module per command).

mod bench;
mod config_reference;
mod configs;
mod lora;
mod tasks_cli;
mod train;
mod util;
