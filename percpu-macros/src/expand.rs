//! Emits the code for one `#[percpu]` static.
//!
//! For `#[percpu] pub static HITS: u64 = 0;` the expansion is, in short:
//!
//! ```text
//! pub static HITS: PerCpu<u64, __percpu_HITS, ModeOf<{ ScalarProbe::<u64>::IS_SCALAR }>> = ..;
//! pub struct __percpu_HITS;                   // zero-sized: names the variable's slot
//! const _: () = {
//!     const __INIT: u64 = 0;                  // the initialiser, evaluated once as a constant
//!     #[link_section = ".percpu"]             // or its class's subsection: ".percpu.hot", ...
//!     static HITS: Template<u64> = Template::new(__INIT);            // the template
//!     static INITIAL: InitialValue<u64> = InitialValue::new(__INIT); // what each copy starts as
//!     unsafe impl Slot<u64> for __percpu_HITS {               // where the copies are, and
//!         fn per_cpu_ptr(&self) -> *mut u64 { HITS.get() }
//!         static_ops!(HITS; u64);                             // the gs:[rip + HITS] instructions
//!     }
//!     #[link_section = ".percpu_registry"] static DESCRIPTOR: Descriptor = ..;  // the registry
//! };
//! ```
//!
//! The handle holds nothing: every access names the template as a link-time symbol, so nothing
//! is loaded at run time to find the variable. Inside the block the template has the variable's
//! own name, so symbol tables, debuggers and `percpu-build inspect` show `crate::_::HITS`. Every
//! path goes through the runtime's version-stamped door, imported in the block as
//! `__percpu_rt`.

use crate::attr::{Args, Class};
use crate::parse::PercpuStatic;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

/// The full expansion.
pub fn expand(args: &Args, input: &PercpuStatic) -> TokenStream {
    let krate = args.crate_path();
    // With `crate = path`, the door is spanned at the user's path: a path that does not lead to
    // percpu-rt is reported there.
    let span = args.krate.as_ref().map_or_else(Span::call_site, |path| path.span());
    let private = crate::tokens::private_module(span);
    let p = quote!(#krate::#private);

    let item = &input.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let name = &item.ident;
    let ty = &item.ty;
    let init = &item.expr;
    let marker = format_ident!("__percpu_{}", name, span = name.span());
    let name_str = name.to_string();

    // The mode is the compiler's answer to "is the type a Scalar?": the probe's inherent
    // constant for scalars, the fallback trait's (imported with the static) for other types.
    let mode = match &args.local {
        Some(local) => quote_spanned!(local.span()=> #p::Local),
        None => quote!(#p::ModeOf<{ #p::ScalarProbe::<#ty>::IS_SCALAR }>),
    };

    let per_cpu_init = match &args.init {
        Some(init_fn) => {
            let span = init_fn.span();
            quote_spanned! {span=>
                ::core::option::Option::Some({
                    unsafe fn per_cpu_init(dst: *mut u8, cpu: __percpu_rt::CpuId) {
                        let init: fn(__percpu_rt::CpuId) -> #ty = #init_fn;
                        // SAFETY: the runtime passes this CPU's copy of the variable, which is
                        // valid for writes and aligned for the variable's type.
                        unsafe { dst.cast::<#ty>().write(init(cpu)) }
                    }
                    per_cpu_init
                })
            }
        }
        None => quote!(::core::option::Option::None),
    };

    // Inside the block the door is imported under a short local name (`rt`'s items, below).
    let rt = quote!(__percpu_rt);
    // The constant holding the initialiser (a name no user expression means).
    let value = quote!(__INIT);

    // Size checks the compiler answers, every token spanned at the user's type so that the
    // error points there.
    let ty_span = ty.span();
    let rt_at_ty = respan(rt.clone(), ty_span);
    let sized_check = quote_spanned! {ty_span=>
        const _: () = #rt_at_ty::assert_per_cpu_type::<#ty>();
    };

    // The placement class: its subsection of `.percpu` (the linker fragment orders them), the
    // alignment wrapper of the aligned classes, and the class the registry records.
    let (section, wrapper, class) = match args.class.as_ref().map(|(c, _)| *c) {
        None => (".percpu", None, None),
        Some(Class::Hot) => (".percpu.hot", None, Some(quote!(Hot))),
        Some(Class::ReadMostly) => (".percpu.read_mostly", None, Some(quote!(ReadMostly))),
        Some(Class::SharedAligned) => {
            (".percpu.shared_aligned", Some(quote!(LineAligned)), Some(quote!(SharedAligned)))
        }
        Some(Class::PageAligned) => {
            (".percpu.page_aligned", Some(quote!(PageAligned)), Some(quote!(PageAligned)))
        }
    };
    let class = class.map(|c| quote!(.in_class(#rt::Class::#c)));
    let (template_ty, template_new, template) = match &wrapper {
        None => (quote!(#rt::Template<#ty>), quote!(#rt::Template::new(#value)), quote!(#name)),
        Some(w) => (
            quote!(#rt::#w<#rt::Template<#ty>>),
            quote!(#rt::#w(#rt::Template::new(#value))),
            quote!(#name.0),
        ),
    };

    // The one-instruction operations naming the template (by-value statics; `arch`'s macro
    // emits them for a type written as a primitive, for its one width, and nothing otherwise).
    let static_ops = match &args.local {
        Some(_) => quote!(),
        None => quote!(#rt::static_ops!(#name; #ty);),
    };

    quote! {
        #(#attrs)*
        #vis static #name: #p::PerCpu<#ty, #marker, #mode> =
            // SAFETY: `#marker` is the slot of the template emitted below, and this is the only
            // handle created for it.
            unsafe { #p::PerCpu::__new_static(#marker) };

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #marker;
        #[allow(unused_imports)]
        use #p::{NotDebug as _, NotScalar as _};

        const _: () = {
            use #p as #rt;
            #sized_check
            // The initialiser, evaluated once as a constant: a non-const expression is then
            // reported as one ("cannot call non-const function .. in constants"), not with the
            // advice for ordinary statics to wrap it in a `LazyLock`.
            const #value: #ty = #init;
            #[unsafe(link_section = #section)]
            #[allow(non_upper_case_globals)]
            static #name: #template_ty = #template_new;
            // What every CPU's copy starts as, whatever the template holds by setup time.
            static INITIAL: #rt::InitialValue<#ty> = #rt::InitialValue::new(#value);

            // SAFETY: `#name` (in this block: the template) is this variable's template in
            // `.percpu`, so its address plus a CPU's offset is that CPU's copy; the operations
            // of `static_ops!` access exactly that copy, for the size of `#ty`.
            unsafe impl #rt::Slot<#ty> for #marker {
                fn per_cpu_ptr(&self) -> *mut #ty {
                    #template.get()
                }
                #static_ops
            }

            // SAFETY: `DESCRIPTOR` below describes this static.
            unsafe impl #rt::StaticSlot<#ty> for #marker {
                const DESCRIPTOR: &'static #rt::Descriptor = &DESCRIPTOR;
            }

            // In the registry: the linker fragment gathers `.percpu_registry` into one array.
            #[used]
            #[unsafe(link_section = ".percpu_registry")]
            static DESCRIPTOR: #rt::Descriptor = #rt::Descriptor::new(
                &#template,
                &INITIAL,
                #name_str,
                ::core::module_path!(),
                ::core::stringify!(#ty),
                #rt::DebugProbe::<#ty>::FORMAT,
                #per_cpu_init,
            )#class;
        };
    }
}

/// `tokens` with every span replaced by `span`.
fn respan(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
