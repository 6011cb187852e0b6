//! A probe for the codegen test (`tests/codegen.rs`): one exported function per current-CPU
//! operation on a per-CPU `u64`, built in release and disassembled. Run it to see the
//! instructions: `cargo build --release -p percpu-rt --features hosted --example codegen_probe
//! && objdump -d -M intel --no-show-raw-insn target/release/examples/codegen_probe`.

use percpu_rt::percpu;

#[percpu]
static PROBE_COUNTER: u64 = 0;

/// The probes' addresses (only kept, never called through).
struct Probes<const N: usize>([*const (); N]);
// SAFETY: the addresses are never dereferenced.
unsafe impl<const N: usize> Sync for Probes<N> {}

macro_rules! probes {
    ($($name:ident($($arg:ident: $t:ty),*) -> $ret:ty = $body:expr;)*) => {
        $(
            #[doc = concat!("`", stringify!($body), "`")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $name($($arg: $t),*) -> $ret {
                $body
            }
        )*
        /// Keeps every probe in the binary.
        #[used]
        static PROBES: Probes<{ [$(stringify!($name)),*].len() }> = Probes([$($name as *const ()),*]);
    };
}

probes! {
    percpu_probe_read() -> u64 = PROBE_COUNTER.read();
    percpu_probe_write(v: u64) -> () = PROBE_COUNTER.write(v);
    percpu_probe_add(v: u64) -> () = PROBE_COUNTER.add(v);
    percpu_probe_sub(v: u64) -> () = PROBE_COUNTER.sub(v);
    percpu_probe_inc() -> () = PROBE_COUNTER.inc();
    percpu_probe_dec() -> () = PROBE_COUNTER.dec();
    percpu_probe_and(v: u64) -> () = PROBE_COUNTER.and(v);
    percpu_probe_or(v: u64) -> () = PROBE_COUNTER.or(v);
    percpu_probe_xor(v: u64) -> () = PROBE_COUNTER.xor(v);
    percpu_probe_add_return(v: u64) -> u64 = PROBE_COUNTER.add_return(v);
    percpu_probe_xchg(v: u64) -> u64 = PROBE_COUNTER.xchg(v);
    percpu_probe_cmpxchg(old: u64, new: u64) -> bool = PROBE_COUNTER.cmpxchg(old, new).is_ok();
}

fn main() {
    // Exercise one path so the probe is also a smoke test when run.
    percpu_probe_inc();
    assert_eq!(percpu_probe_read(), 1);
    println!("{} probes", PROBES.0.len());
}
