//! How sled's write cost depends on the number and size of values: the probe behind the index bucket
//! count (see the README's storage section). Writes about the same bytes as 2,048 small values and as
//! fewer larger ones, each in one batch into a fresh database, then flushes and closes it.
//!
//!   cargo run --release --example sledprobe [BYTES_PER_SMALL_VALUE]   (default 3200: 200,000 records
//!   of 16 bytes in 2 x 1,024 buckets)

use std::time::Instant;

fn main() {
    let small: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3200);
    let shapes = [(2048, small), (2048, small / 2), (512, small * 4), (256, small * 8), (128, small * 16)];
    for (keys, size) in shapes {
        let dir = std::env::temp_dir().join(format!("kitting-sledprobe-{}-{keys}-{size}", std::process::id()));
        let db = sled::Config::new().path(&dir).cache_capacity(64 << 20).flush_every_ms(None).open().expect("open");
        db.insert(b"warm", b"x").expect("insert");
        db.flush().expect("flush");
        // Incompressible values, as index records of random keys are.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut batch = sled::Batch::default();
        for k in 0..keys as u32 {
            let value: Vec<u8> = (0..size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            batch.insert([&b"i"[..], &k.to_be_bytes()].concat(), value);
        }
        let t = Instant::now();
        db.apply_batch(batch).expect("batch");
        let applied = t.elapsed();
        db.flush().expect("flush");
        let flushed = t.elapsed();
        drop(db);
        let closed = t.elapsed();
        let _ = std::fs::remove_dir_all(&dir);
        println!(
            "{keys:5} values x {size:6} B = {:4.1} MB: batch {:5.1} ms, + flush {:5.1} ms, + close {:5.1} ms",
            (keys * size) as f64 / 1e6,
            applied.as_secs_f64() * 1e3,
            flushed.as_secs_f64() * 1e3,
            closed.as_secs_f64() * 1e3
        );
    }
}
