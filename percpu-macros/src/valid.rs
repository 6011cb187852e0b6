//! Rejects what cannot work, each error at the offending tokens. Type-level facts (sized,
//! non-zero size, const initializer) are left to the compiler: the expansion asks it, with the
//! error spanned at the user's type or expression.

use crate::parse::PercpuStatic;
use syn::spanned::Spanned;

/// Attributes that would fight with the placement `#[percpu]` chooses.
const FORBIDDEN_ATTRS: &[(&str, &str)] = &[
    ("link_section", "#[percpu] chooses the section itself (`.percpu`); remove #[link_section]"),
    (
        "no_mangle",
        "#[no_mangle] would export the handle, not the per-CPU data; remove it (the template symbol is private)",
    ),
    ("export_name", "#[export_name] would export the handle, not the per-CPU data; remove it"),
    (
        "used",
        "#[percpu] already keeps the template alive (KEEP in the linker fragment); remove #[used]",
    ),
    ("thread_local", "#[thread_local] and #[percpu] are different storage classes; choose one"),
    ("percpu", "#[percpu] is applied twice"),
];

/// Checks the item; all problems are reported together.
pub fn validate(input: &PercpuStatic) -> syn::Result<()> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let item = &input.item;

    if let syn::StaticMutability::Mut(mut_token) = &item.mutability {
        errors.push(syn::Error::new(
            mut_token.span,
            "#[percpu] statics cannot be `static mut`: each CPU gets its own copy, so mutate it \
             through the handle (`write`, `add`, ... or `get_mut` under an IrqGuard); remove `mut`",
        ));
    }

    for attr in &item.attrs {
        // `#[unsafe(no_mangle)]` and friends: look through the `unsafe(...)` wrapper.
        let name = attr_name(attr);
        if let Some((_, msg)) = FORBIDDEN_ATTRS.iter().find(|(n, _)| Some(*n) == name.as_deref()) {
            errors.push(syn::Error::new_spanned(attr, *msg));
        }
    }

    check_type(&item.ty, &mut errors);

    let mut iter = errors.into_iter();
    match iter.next() {
        None => Ok(()),
        Some(mut first) => {
            for e in iter {
                first.combine(e);
            }
            Err(first)
        }
    }
}

/// The name of an attribute, looking through `#[unsafe(...)]`.
fn attr_name(attr: &syn::Attribute) -> Option<String> {
    let path = attr.path();
    if path.is_ident("unsafe") {
        if let syn::Meta::List(list) = &attr.meta {
            let inner: syn::Meta = syn::parse2(list.tokens.clone()).ok()?;
            return inner.path().get_ident().map(|i| i.to_string());
        }
        return None;
    }
    path.get_ident().map(|i| i.to_string())
}

/// Whether `validate` rejects the type itself (so no expansion can use it).
pub fn type_is_rejected(ty: &syn::Type) -> bool {
    let mut errors = Vec::new();
    check_type(ty, &mut errors);
    !errors.is_empty()
}

/// Types the compiler could not lay out in a template: inferred and opaque types.
fn check_type(ty: &syn::Type, errors: &mut Vec<syn::Error>) {
    match ty {
        syn::Type::Infer(t) => errors.push(syn::Error::new(
            t.underscore_token.span,
            "the type of a #[percpu] static must be written out: the template and every CPU's copy are laid out from it",
        )),
        syn::Type::ImplTrait(t) => errors.push(syn::Error::new(
            t.impl_token.span,
            "a #[percpu] static needs a concrete type; `impl Trait` has no layout to copy per CPU",
        )),
        syn::Type::TraitObject(t) if t.dyn_token.is_some() => errors.push(syn::Error::new(
            t.span(),
            "a #[percpu] static needs a sized type: `dyn Trait` has no size to reserve in each CPU's unit",
        )),
        syn::Type::Slice(t) => errors.push(syn::Error::new(
            t.span(),
            "a #[percpu] static needs a sized type: use an array `[T; N]` instead of a slice",
        )),
        syn::Type::Path(t) if t.qself.is_none() && t.path.is_ident("str") => errors.push(syn::Error::new(
            t.span(),
            "a #[percpu] static needs a sized type: `str` has no size to reserve in each CPU's unit; use a byte array `[u8; N]` or a `&'static str`",
        )),
        syn::Type::Paren(t) => check_type(&t.elem, errors),
        syn::Type::Group(t) => check_type(&t.elem, errors),
        _ => {}
    }
}
