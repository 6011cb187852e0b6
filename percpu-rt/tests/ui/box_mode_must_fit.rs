// `ByValue` is for scalars only: the error says so, and which modes fit a `String`.
use percpu_rt::PerCpuBox;
use percpu_rt::mode::ByValue;

fn main() {
    let _names = PerCpuBox::<String, ByValue>::new(String::new());
}
