//! A server reads what a client sends before it knows who the client is: a message's length prefix must
//! not decide how much memory the reader takes. This binary counts every allocation (its own global
//! allocator), so it measures what `read_msg` really reserves.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use kitting::store::remote::{MAX_MESSAGE, Request, read_msg};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A peer that claims `claimed` bytes, sends `sent` of them and hangs up.
fn lying_peer(claimed: usize, sent: usize) -> impl Read {
    let mut wire = (claimed as u32).to_le_bytes().to_vec();
    wire.extend(std::iter::repeat_n(0u8, sent));
    std::io::Cursor::new(wire)
}

#[test]
fn a_claimed_length_is_not_allocated_before_its_bytes_arrive() {
    let mut peer = lying_peer(MAX_MESSAGE, 16);
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let err = read_msg::<Request>(&mut peer).expect_err("a message cut short is an error");
    let taken = PEAK.load(Ordering::SeqCst) - before;
    assert!(taken < 1 << 20, "reading 16 bytes of a message that claims {MAX_MESSAGE} took {taken} bytes");
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
    assert!(err.to_string().contains("ended after 16"), "{err}");
}

#[test]
fn a_length_over_the_limit_is_refused_before_reading_on() {
    let mut peer = lying_peer(MAX_MESSAGE + 1, 0);
    let err = read_msg::<Request>(&mut peer).expect_err("too long");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
}
