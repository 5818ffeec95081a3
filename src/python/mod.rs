//! The PyO3 layer: convert arguments, release the GIL, call the core, convert back.
//! Nothing here decides behaviour; that lives in the core.

mod errors;
mod text;
mod tokenizer;
mod value;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_class::<tokenizer::PyTokenizer>()?;
    Ok(())
}
