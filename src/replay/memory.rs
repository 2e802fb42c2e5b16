//! What the matcher asks of memory: freed memory given back to the
//! system while a cassette is indexed, and lines asked for ahead of use.
//!
//! Loading a large cassette frees tens of MiB of scratch at its end (the
//! parsed blocks), and laying out the index frees its own (its sorting
//! space). mimalloc returns freed memory to the system only some time
//! later, and only when it is next called. So the layout's scratch came
//! on top of the load's, and a replay waiting for its first client kept
//! both resident for as long as it waited. `Matcher::finish` gives each
//! back as soon as it is freed. On a million-line, 98 MiB cassette
//! (alternating rounds), RSS once listening fell from 118–120 MiB to
//! 96–97 MiB. On a 104 MiB one, the peak fell from 113–117 MiB to 93 MiB.

/// Returns the memory freed so far to the system (0.2–0.4 ms after a
/// million-line load). It only concerns mimalloc, resplay's allocator:
/// in a program that embeds resplay with another allocator it finds
/// nothing to do.
pub(crate) fn give_back_freed() {
    // SAFETY: `mi_collect` takes no pointer and only releases memory
    // mimalloc holds free; it is safe to call at any time, from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Asks the CPU to bring the line at `at` into its caches; nothing else.
/// The matcher asks for what it will read next while it works on what it
/// read before, where a large cassette's index would otherwise keep it
/// waiting on memory one line after another (the key table while a
/// cassette loads, the candidates a binding weighs).
#[inline]
pub(crate) fn prefetch<T>(at: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing into the program and
    // cannot fault, whatever the address (here a live reference). It is
    // `unsafe` only because `_mm_prefetch` is marked `target_feature(sse)`,
    // which every x86_64 target has.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((at as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
