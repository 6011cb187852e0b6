//! The attribute's own arguments: `#[percpu]`, `#[percpu(local)]`, `#[percpu(init = expr)]`,
//! `#[percpu(crate = path)]`, and one placement class (`hot`, `read_mostly`, `shared_aligned`,
//! `page_aligned`), in any combination that makes sense. Unknown, repeated or conflicting
//! arguments are errors spanned at the argument.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;

/// Where in the template a static is placed (Linux's `DEFINE_PER_CPU_*` variants), in the
/// order the linker fragment lays the classes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The first cache lines of every unit, within a budget (`DEFINE_PER_CPU_CACHE_HOT`).
    Hot,
    /// Read far more often than written, kept together (`DEFINE_PER_CPU_READ_MOSTLY`).
    ReadMostly,
    /// Cache-line aligned, for data other CPUs touch (`DEFINE_PER_CPU_SHARED_ALIGNED`).
    SharedAligned,
    /// Page aligned (`DEFINE_PER_CPU_PAGE_ALIGNED`).
    PageAligned,
}

impl Class {
    /// The argument's name.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Hot => "hot",
            Class::ReadMostly => "read_mostly",
            Class::SharedAligned => "shared_aligned",
            Class::PageAligned => "page_aligned",
        }
    }

    const ALL: [Class; 4] =
        [Class::Hot, Class::ReadMostly, Class::SharedAligned, Class::PageAligned];
}

/// Parsed attribute arguments.
#[derive(Default)]
pub struct Args {
    /// The placement class and the token that named it.
    pub class: Option<(Class, syn::Ident)>,
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
        } else if let Some(class) = Class::ALL.into_iter().find(|c| meta.path.is_ident(c.name())) {
            match &args.class {
                Some((given, _)) => Err(meta.error(format_args!(
                    "`{}` and `{}`: a static has one placement class; keep one",
                    given.name(),
                    class.name()
                ))),
                None => {
                    args.class = meta.path.get_ident().cloned().map(|ident| (class, ident));
                    Ok(())
                }
            }
        } else {
            let name = meta.path.to_token_stream().to_string().replace(' ', "");
            Err(meta.error(format_args!(
                "unknown #[percpu] argument `{name}`; expected `local`, `init = |cpu| ..`, \
                 `crate = path`, or a placement class: `hot`, `read_mostly`, `shared_aligned`, \
                 `page_aligned`"
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
    if let (Some(_), Some((Class::SharedAligned, ident))) = (&args.local, &args.class) {
        let err = syn::Error::new(
            ident.span(),
            "`shared_aligned` keeps data other CPUs touch off their neighbours' cache lines, but a \
             `local` static is only ever touched by its own CPU: drop one of the two",
        );
        match &mut errors {
            Some(all) => all.combine(err),
            None => errors = Some(err),
        }
    }
    match errors {
        Some(err) => Err(err),
        None => Ok(args),
    }
}
