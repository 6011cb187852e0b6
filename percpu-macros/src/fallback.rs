//! The error path: report the error, and still declare the static (when the item was readable)
//! so that code using it does not drown in follow-on "cannot find value" errors.

use crate::attr::Args;
use crate::parse::PercpuStatic;
use proc_macro2::TokenStream;

/// `compile_error!` for `err`, plus the best expansion the input allows.
pub fn expand_with_error(
    args: &Args,
    input: Option<&PercpuStatic>,
    err: syn::Error,
) -> TokenStream {
    let error = err.to_compile_error();
    let Some(input) = input else {
        return error;
    };
    // Declare the variable as if the problems were fixed, so its uses still type-check.
    let mut item = input.item.clone();
    item.mutability = syn::StaticMutability::None;
    item.attrs.retain(|a| {
        let p = a.path();
        !(p.is_ident("link_section")
            || p.is_ident("no_mangle")
            || p.is_ident("export_name")
            || p.is_ident("used")
            || p.is_ident("thread_local")
            || p.is_ident("percpu")
            || p.is_ident("unsafe"))
    });
    if crate::valid::type_is_rejected(&item.ty) {
        return error;
    }
    let body = crate::expand::expand(args, &PercpuStatic { item });
    quote::quote! { #error #body }
}
