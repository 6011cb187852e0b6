//! Implementation detail of [`percpu-rt`]: the `#[percpu]` attribute.
//!
//! Use it through `percpu_rt::percpu`; this crate is pinned to the exact version of the runtime
//! that re-exports it, so the two halves never drift apart. The pipeline is the same for every
//! input: `attr` reads the attribute's arguments, `parse` reads the item into a typed model,
//! `valid` rejects what cannot work (each error spanned at the offending tokens), and
//! `expand` emits the code. On an error, `fallback` emits the error together with a handle of
//! the declared type, so that code using the variable does not drown in follow-on errors.
//!
//! [`percpu-rt`]: https://docs.rs/percpu-rt

mod attr;
mod expand;
mod fallback;
mod parse;
mod tokens;
mod valid;

use proc_macro::TokenStream;

/// Declares a per-CPU static: `#[percpu] static NAME: T = INIT;`.
///
/// See the `percpu_rt` crate documentation for the model, the accessor API and the arguments
/// (`local`, `init = |cpu| ..`, `crate = path`).
#[proc_macro_attribute]
pub fn percpu(args: TokenStream, input: TokenStream) -> TokenStream {
    expand_percpu(args.into(), input.into()).into()
}

/// The whole attribute, on `proc_macro2` tokens so that it can be tested outside a macro call.
fn expand_percpu(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let args = attr::parse_args(args);
    let item = parse::parse_item(input.clone());
    match (args, item) {
        (Ok(args), Ok(item)) => match valid::validate(&item) {
            Ok(()) => expand::expand(&args, &item),
            Err(err) => fallback::expand_with_error(&args, Some(&item), err),
        },
        (Ok(args), Err(err)) => fallback::expand_with_error(&args, None, err),
        (Err(err), Ok(item)) => {
            fallback::expand_with_error(&attr::Args::default(), Some(&item), err)
        }
        (Err(mut err), Err(item_err)) => {
            err.combine(item_err);
            fallback::expand_with_error(&attr::Args::default(), None, err)
        }
    }
}

#[cfg(test)]
mod snapshot;
