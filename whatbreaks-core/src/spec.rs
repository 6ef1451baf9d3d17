//! Text grammars and attribute knobs, shared with the macros: [`whatbreaks_spec`], re-exported.
pub use whatbreaks_spec::*;
