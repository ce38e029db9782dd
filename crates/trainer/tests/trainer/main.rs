//! Integration tests of the trainer crate (one test binary; modules per subject).

mod golden_trl;
mod optim_resume;
mod report;
