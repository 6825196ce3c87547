//! veil-transport: under construction.
