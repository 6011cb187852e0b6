pub(crate) static RUNQUEUE: ::percpu_rt::__private_0_1_0::PerCpu<
    RunQueue,
    __percpu_RUNQUEUE,
    ::percpu_rt::__private_0_1_0::Local,
> = unsafe { ::percpu_rt::__private_0_1_0::PerCpu::__new_static(__percpu_RUNQUEUE) };
#[doc(hidden)]
#[allow(non_camel_case_types)]
pub(crate) struct __percpu_RUNQUEUE;
#[allow(unused_imports)]
use ::percpu_rt::__private_0_1_0::{NotDebug as _, NotScalar as _};
const _: () = {
    use ::percpu_rt::__private_0_1_0 as __percpu_rt;
    const _: () = __percpu_rt::assert_per_cpu_type::<RunQueue>();
    const __INIT: RunQueue = RunQueue::EMPTY;
    #[unsafe(link_section = ".percpu")]
    #[allow(non_upper_case_globals)]
    static RUNQUEUE: __percpu_rt::Template<RunQueue> = __percpu_rt::Template::new(
        __INIT,
    );
    static INITIAL: __percpu_rt::InitialValue<RunQueue> = __percpu_rt::InitialValue::new(
        __INIT,
    );
    unsafe impl __percpu_rt::Slot<RunQueue> for __percpu_RUNQUEUE {
        fn per_cpu_ptr(&self) -> *mut RunQueue {
            RUNQUEUE.get()
        }
    }
    unsafe impl __percpu_rt::StaticSlot<RunQueue> for __percpu_RUNQUEUE {
        const DESCRIPTOR: &'static __percpu_rt::Descriptor = &DESCRIPTOR;
    }
    #[used]
    #[unsafe(link_section = ".percpu_registry")]
    static DESCRIPTOR: __percpu_rt::Descriptor = __percpu_rt::Descriptor::new(
        &RUNQUEUE,
        &INITIAL,
        "RUNQUEUE",
        ::core::module_path!(),
        ::core::stringify!(RunQueue),
        __percpu_rt::DebugProbe::<RunQueue>::FORMAT,
        ::core::option::Option::Some({
            unsafe fn per_cpu_init(dst: *mut u8, cpu: __percpu_rt::CpuId) {
                let init: fn(__percpu_rt::CpuId) -> RunQueue = |cpu| RunQueue::new(cpu);
                unsafe { dst.cast::<RunQueue>().write(init(cpu)) }
            }
            per_cpu_init
        }),
    );
};
