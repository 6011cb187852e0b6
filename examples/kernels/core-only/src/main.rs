//! An x86_64 kernel without a heap: built with `-Zbuild-std=core` (the `alloc` crate does not
//! exist in its build) against percpu-rt without its `alloc` feature. It puts what percpu-rt
//! offers on `core` alone through a real boot under QEMU:
//!
//! * the first chunk in either mode (`percpu_alloc=embed`, the default, or `page`), its
//!   bookkeeping in boot memory from a static buffer ([`boot_memory::provide`]), installed
//!   without a dynamic allocator, dumped in Linux's format;
//! * every present CPU loads its base register and updates its own copies of `#[percpu]`
//!   statics at the same time as the others (by value: one `op gs:[SYM]` instruction each;
//!   shared under a `PreemptGuard`; local under the CPU's unique `IrqGuard`);
//! * the boot CPU then reads every possible CPU's copies remotely (`read_on`, `remote`,
//!   `iter_possible`): exact for the online CPUs, the initial values for the others.
//!
//! The per-CPU statics, the setup and the checks are the library's (`lib.rs`, for any target);
//! the machine code is the x86_64 example kernel's (PVH entry, long mode, trampoline, local
//! APIC, COM1, fw_cfg, page tables), shared file by file; the CPU counts come from fw_cfg
//! (APIC ids `0..present`, QEMU's default topology). `bootmem=N` on the command line gives
//! percpu-rt only `N` bytes of boot memory: the setup then fails with the typed error, as a
//! kernel would see it.

#![no_std]
#![no_main]

// The x86_64 kernel's machine code (not all of each file is used here).
#[allow(dead_code)]
#[path = "../../x86_64/src/apic.rs"]
mod apic;
#[allow(dead_code)]
#[path = "../../x86_64/src/boot.rs"]
mod boot;
#[allow(dead_code)]
#[path = "../../x86_64/src/cpu.rs"]
mod cpu;
#[allow(dead_code)]
#[path = "../../x86_64/src/fw_cfg.rs"]
mod fw_cfg;
#[allow(dead_code)]
#[path = "../../x86_64/src/paging.rs"]
mod paging;
#[allow(dead_code)]
#[path = "../../x86_64/src/pvh.rs"]
mod pvh;
#[allow(dead_code)]
#[path = "../../x86_64/src/serial.rs"]
mod serial;

mod console;
mod frames;
mod memory;

use core::arch::asm;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use percpu_kernel_core_only::{self as checks, layout};
use percpu_rt::boot_memory::{self, StaticBuffer};
use percpu_rt::first_chunk::{self, FirstChunk, SetupError};
use percpu_rt::{CpuId, FirstChunkMode, Platform, template};

/// Most possible CPUs (`max_cpus` in percpu.toml).
const MAX_CPUS: usize = layout::MAX_CPUS;
/// Where the page-mode first chunk is mapped: 256 GiB, beyond the 4 GiB identity map.
const PAGE_MODE_VM_BASE: usize = 0x40_0000_0000;
/// The part of the address space the boot page tables map and the kernel allocates from.
const RAM_WINDOW: Range<usize> = 0x10_0000..0xC000_0000;
/// Stack of each other CPU.
const STACK_SIZE: usize = 64 << 10;

/// percpu-rt's boot memory: the layout, the first chunk's tables and the CPU offset table.
static BOOKKEEPING: StaticBuffer<{ 16 << 10 }> = StaticBuffer::new();

/// Preemption does not exist here (one thread per CPU); interrupts are masked with `cli`.
struct X86Platform;

// SAFETY: nothing ever moves code between CPUs (no scheduler), so the preemption hooks have
// nothing to prevent; `irq_save` masks interrupts on this CPU (`cli`), `irq_restore` restores
// the saved flag; both nest.
unsafe impl Platform for X86Platform {
    fn preempt_disable(&self) {}
    fn preempt_enable(&self) {}
    fn irq_save(&self) -> usize {
        cpu::irq_save()
    }
    fn irq_restore(&self, saved: usize) {
        cpu::irq_restore(saved)
    }
}

static PLATFORM: X86Platform = X86Platform;

/// CPUs that have loaded their base register.
static ONLINE: AtomicUsize = AtomicUsize::new(1);
/// Lets the online CPUs start their work, all at once.
static GO: AtomicBool = AtomicBool::new(false);
/// CPUs whose work is done.
static DONE: AtomicUsize = AtomicUsize::new(0);

/// The value of `key=` on the command line.
fn parameter<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Spins until `done` holds; `false` after about a few seconds of emulation.
fn wait_until(done: impl Fn() -> bool) -> bool {
    for _ in 0..1u64 << 31 {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// The boot CPU's first Rust code, entered from the PVH entry with the start info.
#[unsafe(no_mangle)]
extern "C" fn x86_boot_main(start_info: u32) -> ! {
    serial::init();
    apic::enable();
    // SAFETY: `start_info` is the PVH entry's ebx; the start info, memory map and command line
    // lie below the RAM window's allocations (the bump allocator starts above the kernel).
    let params = match unsafe { pvh::parse(start_info as usize, RAM_WINDOW) } {
        Ok(params) => params,
        Err(e) => fail!("{e}"),
    };
    let cmdline = params.cmdline;
    let Some((present, apic_id_limit)) = fw_cfg::cpu_counts() else {
        fail!("no fw_cfg device: cannot tell how many CPUs there are");
    };
    let present = usize::from(present);
    let possible = usize::from(apic_id_limit).max(present);
    if present > MAX_CPUS || possible > MAX_CPUS {
        fail!("{possible} possible CPUs, but this kernel is configured for at most {MAX_CPUS}");
    }
    if cpu::apic_id() != 0 {
        fail!("the boot CPU has APIC id {}, expected 0 (QEMU's default)", cpu::apic_id());
    }
    println!(
        "percpu example kernel on x86_64 (core only): {possible} possible CPU{}, {present} \
         present (fw_cfg), command line {cmdline:?}",
        if possible == 1 { "" } else { "s" }
    );

    // Memory: everything above the kernel image in the largest RAM range.
    let kernel_end = (&raw const boot::__kernel_end as usize).next_multiple_of(2 << 20);
    let ram = params.ram[..params.nr_ram]
        .iter()
        .map(|r| r.start.max(kernel_end)..r.end)
        .filter(|r| r.start < r.end)
        .max_by_key(|r| r.end - r.start);
    let Some(ram) = ram else { fail!("no RAM above the kernel image") };
    // SAFETY: RAM in the identity-mapped window, above the kernel image and below the end of
    // the range; the start info and the command line lie below 1 MiB or inside the image's
    // 2 MiB rounding (QEMU puts them in low memory).
    unsafe { frames::init(ram) };

    // Statics work before the setup: this CPU's accesses reach the template.
    if let Err(e) = checks::before_setup() {
        fail!("{e}");
    }

    // percpu-rt's bookkeeping: all of the static buffer, or `bootmem=` bytes of it.
    let Some(memory) = BOOKKEEPING.take() else { fail!("the boot memory was taken twice") };
    let memory = match parameter(cmdline, "bootmem").map(str::parse::<usize>) {
        None => memory,
        Some(Ok(n)) if n <= memory.len() => &mut memory[..n],
        Some(_) => fail!("bootmem=: expected a byte count up to {}", memory.len()),
    };
    if let Err(e) = boot_memory::provide(memory) {
        fail!("{e}");
    }
    if percpu_rt::set_platform(&PLATFORM).is_err() {
        fail!("a platform was registered twice");
    }

    let settings = layout::SETTINGS;
    let mode = match parameter(cmdline, "percpu_alloc") {
        None => settings.first_chunk,
        Some(name) => match FirstChunkMode::from_name(name) {
            Some(mode) => mode,
            None => fail!("percpu_alloc={name}: unknown first-chunk mode (embed, page, auto)"),
        },
    };
    let mut cpus = [CpuId::new(0); MAX_CPUS];
    for (i, cpu) in cpus.iter_mut().enumerate() {
        *cpu = CpuId::new(i as u32);
    }
    let cpus = &cpus[..possible];
    if let Err(e) = settings.check_cpus(cpus) {
        fail!("{e}");
    }
    let (chunk, used) = match build_first_chunk(mode, cpus) {
        Ok(built) => built,
        Err(e) => fail!("percpu: the first-chunk setup failed: {e}"),
    };
    let chunk = match chunk.install() {
        Ok(chunk) => chunk,
        Err(e) => fail!("percpu: installing the first chunk failed: {e}"),
    };
    console::print_block(|out| chunk.dump(out));
    let usage = boot_memory::usage();
    println!(
        "percpu: {} first chunk at {:#x}, template {:#x}..{:#x}; no dynamic allocator (built \
         without alloc); boot memory {} of {} bytes in use (peak {})",
        used.name(),
        chunk.base_addr(),
        template::start() as usize,
        template::end() as usize,
        usage.in_use,
        usage.capacity,
        usage.peak
    );
    // SAFETY: this is CPU 0, the boot CPU, and no other CPU runs yet; its last GS selector load
    // was in the PVH entry; nothing holds a reference into the template.
    if let Err(e) = unsafe { first_chunk::load_base(CpuId::new(0)) } {
        fail!("{e}");
    }
    cpu_online(CpuId::new(0));

    // The other present CPUs, one after the other (APIC id = logical number).
    for cpu in 1..present as u32 {
        let Some(stack) = frames::alloc(STACK_SIZE, frames::FRAME_SIZE) else {
            fail!("no memory for the stack of CPU {cpu}");
        };
        if let Err(e) = apic::start_ap(cpu, cpu, stack + STACK_SIZE) {
            fail!("CPU {cpu}: {e}");
        }
        if !wait_until(|| ONLINE.load(Ordering::Acquire) > cpu as usize) {
            fail!("CPU {cpu} did not come online");
        }
    }
    println!(
        "smp: {present} CPU{} online of {possible} possible ({present} present)",
        if present == 1 { "" } else { "s" }
    );
    GO.store(true, Ordering::Release);
    work(CpuId::new(0));
    if !wait_until(|| DONE.load(Ordering::Acquire) == present) {
        fail!("{} of {present} CPUs finished their work", DONE.load(Ordering::Acquire));
    }
    match checks::check_remote(present, possible, |cpu| u64::from(cpu.as_u32())) {
        Ok(total) => println!(
            "core-only: remote sums exact over {present} online CPUs x {} rounds: EVENTS \
             {total}; {} offline CPUs keep their initial values; {} bytes of memory given back",
            checks::ITERATIONS,
            possible - present,
            frames::given_back()
        ),
        Err(e) => fail!("{e}"),
    }
    console::end(true, format_args!(""))
}

/// Builds the first chunk in `mode` for the possible CPUs `cpus` (`auto`: embed, else page).
fn build_first_chunk(
    mode: FirstChunkMode,
    cpus: &[CpuId],
) -> Result<(FirstChunk, FirstChunkMode), SetupError> {
    let build = |mode| {
        let mut pages = memory::Pages::new(PAGE_MODE_VM_BASE);
        // SAFETY: the frame allocator hands out identity-mapped RAM nothing else uses, never
        // the template (inside the kernel image, below the allocator's range), and what the
        // setup keeps is never given out again; `map_page` installs a writable mapping that
        // stays, and the range above `PAGE_MODE_VM_BASE` is used by nothing else.
        unsafe { checks::build_first_chunk(mode, cpus, &mut memory::Early, &mut pages) }
            .map(|chunk| (chunk, mode))
    };
    match mode {
        FirstChunkMode::Embed | FirstChunkMode::Page => build(mode),
        FirstChunkMode::Auto => build(FirstChunkMode::Embed).or_else(|e| {
            println!("percpu: embed first chunk failed ({e}), falling back to page");
            build(FirstChunkMode::Page)
        }),
    }
}

/// CPU `cpu` has loaded its base register: the library's checks, then its `online` line.
fn cpu_online(cpu: CpuId) {
    match checks::cpu_online(cpu, cpu::apic_id().into()) {
        Ok(base) => {
            println!("cpu{cpu}: online, hardware id {:#x}, GS.base = {base:#x}", cpu::apic_id())
        }
        Err(e) => fail!("{e}"),
    }
}

/// Waits for the release, then does this CPU's share of the work.
fn work(cpu: CpuId) {
    if !wait_until(|| GO.load(Ordering::Acquire)) {
        fail!("CPU {cpu} was never released");
    }
    if let Err(e) = checks::work(cpu) {
        fail!("{e}");
    }
    DONE.fetch_add(1, Ordering::AcqRel);
}

/// Every other CPU's first Rust code, entered from the trampoline in long mode on the boot
/// CPU's page tables, with its own stack.
#[unsafe(no_mangle)]
extern "C" fn x86_ap_entry(cpu: u32) -> ! {
    // The kernel's GDT (the trampoline's copy in low memory is reused for the next CPU), then
    // reload every selector; GS last of all, before the per-CPU base is written.
    // SAFETY: `boot_gdt_ptr` describes the kernel's static GDT, whose 0x08 and 0x10 entries
    // are the 64-bit code and data segments this CPU already uses; the far return reloads CS.
    unsafe {
        asm!(
            "lgdt [{gdt}]",
            "push 0x08",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov {tmp:e}, 0x10",
            "mov ds, {tmp:e}",
            "mov es, {tmp:e}",
            "mov ss, {tmp:e}",
            "xor {tmp:e}, {tmp:e}",
            "mov fs, {tmp:e}",
            "mov gs, {tmp:e}",
            gdt = in(reg) &raw const boot::boot_gdt_ptr,
            tmp = out(reg) _,
        )
    }
    apic::ap_entered(cpu);
    let id = CpuId::new(cpu);
    // SAFETY: this is CPU `cpu` (the boot CPU started it as that one, once) after its last GS
    // selector load above; nothing on it holds a reference into per-CPU data.
    if let Err(e) = unsafe { first_chunk::load_base(id) } {
        fail!("{e}");
    }
    cpu_online(id);
    ONLINE.fetch_add(1, Ordering::AcqRel);
    work(id);
    cpu::halt_forever()
}
