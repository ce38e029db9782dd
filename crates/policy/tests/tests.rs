//! Integration tests of the `policy` crate (one binary; one module per area).

mod api;
mod cuda;
mod hf_fixtures;
mod tokenizer_fixtures;
