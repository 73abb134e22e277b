//! Locking shared by the router's components.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, recovering the data if a holder panicked. Every critical section in the
/// router is a few map or vector operations that leave the data consistent at each step, so a
/// panic elsewhere (a bug) must not take every later caller down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
