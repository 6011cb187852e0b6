use percpu_rt::percpu;

#[percpu]
fn tick() {}

#[percpu]
const LIMIT: u32 = 4;

#[percpu]
struct Generic<T>(T);

fn main() {}
