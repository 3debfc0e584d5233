//! Locating components.
