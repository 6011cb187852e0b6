//! Ground floor of the macro: the paths every expansion goes through.
//!
//! Generated code names the runtime only as `#krate::__private_<version>::…`, so it survives
//! shadowed names and renamed dependencies, and a macro/runtime version mismatch is a compile
//! error instead of silent misbehaviour.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

/// The runtime crate path used when the attribute does not say `crate = path`.
pub fn default_crate_path() -> TokenStream {
    quote!(::percpu_rt)
}

/// The runtime's version-stamped private module, e.g. `__private_0_1_0`, spanned at `span`.
pub fn private_module(span: Span) -> proc_macro2::Ident {
    let version = env!("CARGO_PKG_VERSION").replace(['.', '-', '+'], "_");
    format_ident!("__private_{}", version, span = span)
}
