//! What a POST costs before it is authenticated: only `<Encrypt>` is read
//! from the outer XML, as a stream, so the memory taken for a body that
//! fails the signature is about the body itself, not a tree of every
//! element in it.
//!
//! A binary of its own: it counts every allocation of the process, and one
//! test at a time keeps other tests' allocations out of the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::samples::{assert_unauthenticated, handle_with};
use wecom::WecomFunction;

/// The system allocator, counting the bytes live now and the most live since
/// the last [`Counting::reset_peak`].
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn added(bytes: usize) {
        let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }

    fn removed(bytes: usize) {
        LIVE.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn reset_peak() -> usize {
        let live = LIVE.load(Ordering::Relaxed);
        PEAK.store(live, Ordering::Relaxed);
        live
    }

    fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
    }
}

// SAFETY: every call is passed to `System` unchanged; only counters change.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            Counting::added(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(pointer, layout) };
        Counting::removed(layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            Counting::added(layout.size());
        }
        pointer
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            Counting::added(new_size);
            Counting::removed(layout.size());
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A body just under the 1 MiB limit made of many small elements, with a
/// signature that does not match: refused, and on the way the handler holds
/// little beyond the request it was given: `<Encrypt>`'s text (4 bytes
/// here) and the reader's bookkeeping, not one JSON value per element (a
/// tree of these ~57 000 elements takes several times the body).
#[tokio::test(flavor = "current_thread")]
async fn an_unauthenticated_post_costs_memory_in_proportion_to_its_body() {
    let settings = dev_settings();
    let mut request =
        WecomFunction::sample("wecom-text-message", &settings, 1_700_000_000, "memory").expect("sample").to_incoming();
    request.query.insert("msg_signature".into(), "0".repeat(40));
    let mut body = String::from("<xml><ToUserName>ww</ToUserName><Encrypt>AAAA</Encrypt>");
    let mut index = 0;
    while body.len() < 1_000_000 {
        // Distinct names: a tree of them is one map entry (name, value) each.
        body.push_str(&format!("<e{index}>1</e{index}>"));
        index += 1;
    }
    body.push_str("</xml>");
    request.body = body.into_bytes();
    let size = request.body.len();
    assert!(size < 1024 * 1024, "under the body limit: the handler must read it");

    // Settings and the handler's first use of its statics, out of the count.
    let _ = handle_with::<WecomFunction>(&settings, &request, 1_700_000_000).await;
    let before = Counting::reset_peak();
    let (reply, publisher) = handle_with::<WecomFunction>(&settings, &request, 1_700_000_000).await;
    let held = Counting::peak().saturating_sub(before);

    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_unauthenticated(&reply, &publisher);
    eprintln!("body {size} bytes ({index} elements): at most {held} bytes held while refusing it");
    assert!(held < 64 * 1024, "{held} bytes held for a {size}-byte body that failed authentication");
}
