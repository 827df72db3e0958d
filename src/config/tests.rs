//! End-to-end tests of [`parse`](super::parse): flags, environment, config file.
