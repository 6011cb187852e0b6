//! Reads the annotated item into a typed model that keeps the original nodes (for spans).

use proc_macro2::TokenStream;
use syn::spanned::Spanned;

/// A `static` item as written by the user.
pub struct PercpuStatic {
    /// The item, unchanged.
    pub item: syn::ItemStatic,
}

/// Parses the annotated item; anything but a `static` item is an error at its first token.
pub fn parse_item(tokens: TokenStream) -> syn::Result<PercpuStatic> {
    let item: syn::Item = match syn::parse2(tokens.clone()) {
        Ok(item) => item,
        Err(err) => {
            // `static NAME: T;` (no initializer) is not an item at all; say what is missing.
            if let Some(msg) = missing_initializer(&tokens) {
                return Err(syn::Error::new(msg.0, msg.1));
            }
            return Err(err);
        }
    };
    match item {
        syn::Item::Static(item) => Ok(PercpuStatic { item }),
        // syn keeps `static NAME: T;` (no initializer) as a verbatim item.
        syn::Item::Verbatim(ref tokens) if missing_initializer(tokens).is_some() => {
            let (span, msg) = missing_initializer(tokens).expect("checked");
            Err(syn::Error::new(span, msg))
        }
        other => Err(syn::Error::new(
            item_keyword_span(&other),
            "#[percpu] applies to `static` items only: write `static NAME: T = INIT;`",
        )),
    }
}

/// The span of the keyword that says what kind of item this is (`fn`, `const`, `struct`, ...).
fn item_keyword_span(item: &syn::Item) -> proc_macro2::Span {
    match item {
        syn::Item::Const(i) => i.const_token.span,
        syn::Item::Fn(i) => i.sig.fn_token.span,
        syn::Item::Struct(i) => i.struct_token.span,
        syn::Item::Enum(i) => i.enum_token.span,
        syn::Item::Union(i) => i.union_token.span,
        syn::Item::Type(i) => i.type_token.span,
        syn::Item::Mod(i) => i.mod_token.span,
        syn::Item::Impl(i) => i.impl_token.span,
        syn::Item::Trait(i) => i.trait_token.span,
        syn::Item::Use(i) => i.use_token.span,
        syn::Item::ForeignMod(i) => i.abi.extern_token.span,
        other => other.span(),
    }
}

/// Recognises `static NAME: T;` and returns the span of the `;` with the message.
fn missing_initializer(tokens: &TokenStream) -> Option<(proc_macro2::Span, &'static str)> {
    let trees: Vec<proc_macro2::TokenTree> = tokens.clone().into_iter().collect();
    let has_static =
        trees.iter().any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "static"));
    let has_eq =
        trees.iter().any(|t| matches!(t, proc_macro2::TokenTree::Punct(p) if p.as_char() == '='));
    let last = trees.last()?;
    match last {
        proc_macro2::TokenTree::Punct(p) if p.as_char() == ';' && has_static && !has_eq => Some((
            p.span(),
            "a #[percpu] static needs an initial value: write `static NAME: T = INIT;` (the value is the template copied to every CPU)",
        )),
        _ => None,
    }
}
