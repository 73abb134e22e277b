//! The global allocator and its tuning per role.
//!
//! mimalloc (feature `mimalloc`, on by default) instead of glibc's malloc: the agent's
//! pipelines allocate many small, short-lived buffers next to a few large ones (scrape bodies,
//! requests), a mix glibc serves with costly consolidation and fragmentation (40% more agent
//! CPU, measured in docs/PERFORMANCE.md).
//!
//! The router is the other kind of program: it holds alerts, groups and silences for hours and
//! allocates little per second. [`tune_for_long_lived_state`] asks mimalloc to give freed
//! pages back to the OS at once (`purge_delay` 0, default 1 s) and to keep no spare full
//! pages per size class (`page_full_retain` 0, default 2): about 2 MiB less peak RSS in
//! `bench-notify` for a few percent more CPU. A `MIMALLOC_PURGE_DELAY` or
//! `MIMALLOC_PAGE_FULL_RETAIN` set in the environment wins.
//!
//! The agent (and `harrier local`) streams: the logs path alone frees hundreds of MiB of read
//! and request buffers per second at full speed, and with the default 1 s purge delay a second
//! of them stayed resident (peak RSS 50 MiB in `bench-logs`, 35 MiB with the delay at 0, and
//! no measurable CPU difference). [`tune_for_streaming`] sets only `purge_delay` to 0.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3.x option numbers (`mi_option_e` in its `include/mimalloc.h`), which
/// libmimalloc-sys does not name; a test checks them against their defaults.
#[cfg(feature = "mimalloc")]
mod option {
    pub(super) const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    pub(super) const PAGE_FULL_RETAIN: libmimalloc_sys::mi_option_t = 36;
}

/// Tunes the allocator for a process that holds its state for long (the router; module docs).
pub fn tune_for_long_lived_state() {
    #[cfg(feature = "mimalloc")]
    set_zero_unless_in_env(&[
        (option::PURGE_DELAY, "MIMALLOC_PURGE_DELAY"),
        (option::PAGE_FULL_RETAIN, "MIMALLOC_PAGE_FULL_RETAIN"),
    ]);
}

/// Tunes the allocator for a process that streams data through short-lived buffers (the
/// agent, `harrier local`; module docs): freed pages go back at once.
pub fn tune_for_streaming() {
    #[cfg(feature = "mimalloc")]
    set_zero_unless_in_env(&[(option::PURGE_DELAY, "MIMALLOC_PURGE_DELAY")]);
}

#[cfg(feature = "mimalloc")]
fn set_zero_unless_in_env(options: &[(libmimalloc_sys::mi_option_t, &str)]) {
    for (option, env) in options {
        if std::env::var_os(env).is_none() {
            // SAFETY: valid option numbers of the linked mimalloc (checked by the test below);
            // setting an option is a plain store mimalloc reads on its next decision.
            unsafe { libmimalloc_sys::mi_option_set(*option, 0) }
        }
    }
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::option::*;

    #[test]
    fn option_numbers_name_the_linked_mimalloc_options() {
        // The defaults in mimalloc 3.x's src/options.c: a renumbering (a libmimalloc-sys
        // update) shows up here as other options' values.
        // SAFETY: reading an option is always valid for numbers below `_mi_option_last`.
        let (purge_delay, full_retain) = unsafe {
            (libmimalloc_sys::mi_option_get(PURGE_DELAY), libmimalloc_sys::mi_option_get(PAGE_FULL_RETAIN))
        };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay, 1000, "purge_delay");
        }
        if std::env::var_os("MIMALLOC_PAGE_FULL_RETAIN").is_none() {
            assert_eq!(full_retain, 2, "page_full_retain");
        }
        // Neighbours with distinct defaults: generic_collect (34) and page_max_candidates (37).
        // SAFETY: as above.
        unsafe {
            assert_eq!(libmimalloc_sys::mi_option_get(34), 10_000, "generic_collect");
            assert_eq!(libmimalloc_sys::mi_option_get(37), 4, "page_max_candidates");
        }
    }
}
