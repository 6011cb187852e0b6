//! Hosted demo (placeholder while the foundation compiles).
use percpu_rt::{percpu, hosted::{Machine, MachineConfig}};

#[percpu]
static COUNTER: u64 = 0;

fn main() {
    let m = Machine::boot(MachineConfig::new(4)).expect("boot");
    print!("{}", m.dump());
    m.run(|_cpu| { for _ in 0..1000 { COUNTER.inc(); demo_lib::record_event(); } });
    println!("total {}", COUNTER.iter_possible().sum::<u64>());
    for v in percpu_rt::registry::variables() { println!("{v:?}"); }
}
#[inline(never)] #[unsafe(no_mangle)] pub fn probe_read() -> u64 { COUNTER.read() }
#[inline(never)] #[unsafe(no_mangle)] pub fn probe_write(v: u64) { COUNTER.write(v) }
#[inline(never)] #[unsafe(no_mangle)] pub fn probe_add(v: u64) { COUNTER.add(v) }
#[inline(never)] #[unsafe(no_mangle)] pub fn probe_inc() { COUNTER.inc() }
#[inline(never)] #[unsafe(no_mangle)] pub fn probe_cmpxchg(a: u64, b: u64) -> Result<u64,u64> { COUNTER.cmpxchg(a, b) }
#[inline(never)] #[unsafe(no_mangle)] pub fn probe_tag() -> u32 { demo_lib::CPU_TAG.read() }
#[inline(never)] #[unsafe(no_mangle)] pub fn probe_xadd(v: u64) -> u64 { COUNTER.add_return(v) }
#[used] static KEEP: [fn(); 1] = [keep];
fn keep() { std::hint::black_box((probe_read as fn() -> u64, probe_write as fn(u64), probe_add as fn(u64), probe_inc as fn(), probe_cmpxchg as fn(u64,u64)->Result<u64,u64>, probe_tag as fn()->u32, probe_xadd as fn(u64)->u64)); }
