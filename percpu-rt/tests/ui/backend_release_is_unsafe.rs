// The backend's page and chunk release take any address, so calling them is `unsafe`.
use percpu_rt::allocator::hosted::HOSTED_BACKEND;
use percpu_rt::allocator::{Backend, ChunkGeometry};

fn main() {
    let geometry = ChunkGeometry { unit_size: 4096, page_size: 4096, units: vec![], groups: vec![] };
    let buffer = vec![0u8; 8192];
    let page = buffer.as_ptr() as usize & !4095;
    HOSTED_BACKEND.depopulate(&geometry, page, 0..1);
    HOSTED_BACKEND.destroy_chunk(&geometry, page);
}
