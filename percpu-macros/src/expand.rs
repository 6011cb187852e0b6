//! Emits the code for one `#[percpu]` static.
//!
//! For `#[percpu] pub static HITS: u64 = 0;` the expansion is, in short:
//!
//! ```text
//! pub static HITS: ::percpu_rt::PerCpu<u64, __percpu_HITS> = unsafe { PerCpu::__new_static(__percpu_HITS) };
//! pub struct __percpu_HITS;                   // zero-sized: names the variable's slot
//! const _: () = {
//!     #[link_section = ".percpu"] #[used]
//!     static HITS: Template<u64> = Template::new(0);   // the template, in .percpu
//!     static INITIAL_VALUE: InitialValue<u64> = InitialValue::new(0);  // what every copy starts as
//!     unsafe impl Slot<u64> for __percpu_HITS { .. }     // where the copies are
//!     static_ops!(__percpu_HITS, HITS);                  // the gs:[rip + HITS] instructions
//!     #[distributed_slice(REGISTRY)] static DESCRIPTOR: Descriptor = ..;  // for iteration
//! };
//! ```
//!
//! The handle holds nothing: every access names the template as a link-time symbol, so nothing
//! is loaded at run time to find the variable. Inside the block the template has the variable's
//! own name, so symbol tables, debuggers and `percpu-build inspect` show `crate::_::HITS`.

use crate::attr::Args;
use crate::parse::PercpuStatic;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

/// The full expansion.
pub fn expand(args: &Args, input: &PercpuStatic) -> TokenStream {
    let krate = args.crate_path();
    let private = crate::tokens::private_module();
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

    // Size checks the compiler answers, every token spanned at the user's type so that the
    // error points there.
    let ty_span = ty.span();
    let rt_at_ty = respan(rt.clone(), ty_span);
    let sized_check = quote_spanned! {ty_span=>
        const _: () = #rt_at_ty::assert_per_cpu_type::<#ty>();
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
            #[unsafe(link_section = ".percpu")]
            #[allow(non_upper_case_globals)]
            static #name: #rt::Template<#ty> = #rt::Template::new(#init);
            // What every CPU's copy starts as, whatever the template holds by setup time.
            static INITIAL: #rt::InitialValue<#ty> = #rt::InitialValue::new(#init);

            // SAFETY: `#name` (in this block: the template) is this variable's template in
            // `.percpu`, so its address plus a CPU's offset is that CPU's copy; the operations
            // of `static_ops!` access exactly that copy, for the size of `#ty`.
            unsafe impl #rt::Slot<#ty> for #marker {
                fn per_cpu_ptr(&self) -> *mut #ty {
                    #name.get()
                }
                #static_ops
            }

            // In the registry: the linker fragment gathers `.percpu_registry` into one array.
            #[used]
            #[unsafe(link_section = ".percpu_registry")]
            static DESCRIPTOR: #rt::Descriptor = #rt::Descriptor::new(
                &#name,
                &INITIAL,
                #name_str,
                ::core::module_path!(),
                ::core::stringify!(#ty),
                #rt::DebugProbe::<#ty>::FORMAT,
                #per_cpu_init,
            );
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
