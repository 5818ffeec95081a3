//! mistral-tok's Python extension module, `mistral_tok._native`: the binding of the
//! `mistral-tok-core` crate (tokenizers, request rules, templates) and the `mistral-tok-image`
//! crate (the image probe) for CPython (abi3, 3.10+), plus the asyncio worker behind its
//! awaitables. Rust users depend on `mistral-tok-core` instead; this crate exports nothing.
//!
//! - `python` (feature): conversion of arguments, GIL release, exception mapping. Nothing else.
//! - `worker` (Unix): the thread that runs awaited jobs and wakes event loops through an fd.

// The asyncio worker wakes event loops through a file descriptor; only the binding uses it.
#[cfg(all(unix, any(test, feature = "python")))]
mod worker;

#[cfg(all(unix, feature = "python"))]
mod python;
#[cfg(all(not(unix), feature = "python"))]
compile_error!(
    "the Python binding needs Unix (Linux, macOS): its worker wakes loops through an fd"
);
