//! The PyO3 layer: convert arguments, release the GIL, call the core, convert back.
