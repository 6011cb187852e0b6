//! Expansion snapshots: what `#[percpu]` emits for representative inputs, pretty-printed and
//! compared with the files in `snapshots/` so the generated code stays readable and any change
//! to it is reviewed. Regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p percpu-macros`.

use quote::quote;
use std::path::PathBuf;

/// Expands `#[percpu(args)] item` and pretty-prints the result.
fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
    let tokens = crate::expand_percpu(args, item);
    let file: syn::File = syn::parse2(tokens).expect("the expansion is valid Rust syntax");
    prettyplease::unparse(&file)
}

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(format!("{name}.expanded.rs"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("missing snapshot {} ({e}); run with UPDATE_SNAPSHOTS=1", path.display())
    });
    assert!(
        expected == actual,
        "the expansion of `{name}` changed; review it and run with UPDATE_SNAPSHOTS=1:\n--- {}\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn scalar_static() {
    let out = expand(
        quote!(),
        quote! {
            /// Packets received on this CPU.
            pub static RX_PACKETS: u64 = 0;
        },
    );
    check("scalar_static", &out);
}

#[test]
fn local_static_with_initialiser() {
    let out = expand(
        quote!(local, init = |cpu| RunQueue::new(cpu)),
        quote! {
            pub(crate) static RUNQUEUE: RunQueue = RunQueue::EMPTY;
        },
    );
    check("local_static_with_initialiser", &out);
}

#[test]
fn renamed_runtime_crate() {
    let out = expand(
        quote!(crate = ::kernel::percpu),
        quote!(
            static SCRATCH: [u8; 64] = [0; 64];
        ),
    );
    check("renamed_runtime_crate", &out);
}

#[test]
fn error_keeps_the_declaration() {
    // The error is reported, and the static is still declared so its uses type-check.
    let out = expand(
        quote!(),
        quote!(
            static mut BAD: u32 = 0;
        ),
    );
    assert!(out.contains("compile_error!"), "{out}");
    assert!(out.contains("static BAD: ::percpu_rt::__private_0_1_0::PerCpu<"), "{out}");
}

#[test]
fn every_snapshot_is_checked() {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    let files = std::fs::read_dir(dir).unwrap().count();
    assert_eq!(files, 3, "one snapshot file per snapshot test (stale files must go)");
}
