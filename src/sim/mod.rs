//! Deterministic cluster simulation (in progress).
