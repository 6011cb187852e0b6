//! Dynamic per-CPU allocation (in progress).
