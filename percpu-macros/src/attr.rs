//! The attribute's own arguments: `#[percpu]`, `#[percpu(local)]`, `#[percpu(init = expr)]`,
//! `#[percpu(crate = path)]`, in any combination. Unknown or repeated arguments are errors
//! spanned at the argument.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;

/// Parsed attribute arguments.
#[derive(Default)]
pub struct Args {
    /// `local`: the variable is only ever touched by its own CPU, so it may be borrowed mutably
    /// under an interrupt guard (and has no remote shared access).
    pub local: Option<syn::Ident>,
    /// `init = expr`: a `fn(CpuId) -> T` run for each CPU's copy at first-chunk setup.
    pub init: Option<syn::Expr>,
    /// `crate = path`: where the runtime crate is, when it is not `::percpu_rt`.
    pub krate: Option<syn::Path>,
}

impl Args {
    /// The runtime crate path tokens.
    pub fn crate_path(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => crate::tokens::default_crate_path(),
        }
    }
}

/// Parses the tokens between the attribute's parentheses.
pub fn parse_args(tokens: TokenStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let mut errors: Option<syn::Error> = None;
    let parser = syn::meta::parser(|meta| {
        let result = if meta.path.is_ident("local") {
            if args.local.is_some() {
                Err(meta.error("`local` given twice"))
            } else {
                args.local = meta.path.get_ident().cloned();
                Ok(())
            }
        } else if meta.path.is_ident("init") {
            if args.init.is_some() {
                Err(meta.error("`init` given twice"))
            } else if !meta.input.peek(syn::Token![=]) {
                Err(meta.error(
                    "`init` needs the per-CPU initialiser: write `init = |cpu| ..` (a fn(CpuId) -> T)",
                ))
            } else {
                args.init = Some(meta.value()?.parse()?);
                Ok(())
            }
        } else if meta.path.is_ident("crate") {
            if args.krate.is_some() {
                Err(meta.error("`crate` given twice"))
            } else if !meta.input.peek(syn::Token![=]) {
                Err(meta.error(
                    "`crate` needs the runtime's path: write `crate = ::path::to::percpu_rt`",
                ))
            } else {
                args.krate = Some(meta.value()?.parse()?);
                Ok(())
            }
        } else {
            let name = meta.path.to_token_stream().to_string().replace(' ', "");
            Err(meta.error(format_args!(
                "unknown #[percpu] argument `{name}`; expected `local`, `init = |cpu| ..` or `crate = path`"
            )))
        };
        if let Err(err) = result {
            match &mut errors {
                Some(all) => all.combine(err),
                None => errors = Some(err),
            }
        }
        Ok(())
    });
    parser.parse2(tokens)?;
    match errors {
        Some(err) => Err(err),
        None => Ok(args),
    }
}
