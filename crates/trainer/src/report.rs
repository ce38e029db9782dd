//! Run reports: plots and a markdown summary from a run directory's JSONL logs.
