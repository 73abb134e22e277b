//! Stream labels taken from a log file's path.
//!
//! Kubelet lays container logs out as
//! `/var/log/pods/<namespace>_<pod name>_<pod uid>/<container>/<restart count>.log`, and
//! rotates `0.log` to `0.log.<YYYYMMDD-hhmmss>` (compressed later to `...gz`). Namespace and
//! pod names are DNS labels/subdomains (letters, digits, `-`, `.`) and the uid is a UUID, so
//! none contains `_` and the directory name splits at its two underscores exactly. Only the
//! last three path components are looked at, so the `/var/log/pods` root may be anywhere (a
//! host path mounted elsewhere). A path that does not have this shape gets `filename` (the
//! whole path, as Promtail's label of that name) instead, so its lines are still told apart.

use crate::logs::config::PathLabels;
use std::path::Path;

/// Labels from a path per `PathLabels` (kubernetes: namespace, pod, pod_uid, container from
/// `/<any>/<namespace>_<pod>_<uid>/<container>/<n>.log`, also for rotated names
/// `<n>.log.<timestamp>`); `filename` for PathLabels::Filename; sorted by name.
pub fn path_labels(kind: PathLabels, path: &Path) -> Vec<(String, String)> {
    match kind {
        PathLabels::None => Vec::new(),
        PathLabels::Filename => filename_label(path),
        PathLabels::Kubernetes => match kubernetes_labels(path) {
            Some(labels) => labels,
            None => filename_label(path),
        },
    }
}

fn filename_label(path: &Path) -> Vec<(String, String)> {
    vec![("filename".to_owned(), path.to_string_lossy().into_owned())]
}

fn kubernetes_labels(path: &Path) -> Option<Vec<(String, String)>> {
    let mut components = path.components().rev();
    let file_name = components.next()?.as_os_str().to_str()?;
    let container = components.next()?.as_os_str().to_str()?;
    let pod_dir = components.next()?.as_os_str().to_str()?;
    if !is_container_log_name(file_name) || !is_name(container) {
        return None;
    }
    let mut parts = pod_dir.split('_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_name(namespace) || !is_name(pod) || !is_name(uid) {
        return None;
    }
    // Sorted by name.
    Some(vec![
        ("container".to_owned(), container.to_owned()),
        ("namespace".to_owned(), namespace.to_owned()),
        ("pod".to_owned(), pod.to_owned()),
        ("pod_uid".to_owned(), uid.to_owned()),
    ])
}

/// `<digits>.log`, or a rotated `<digits>.log.<suffix>`.
fn is_container_log_name(name: &str) -> bool {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    match name[digits..].strip_prefix(".log") {
        Some(rest) => rest.is_empty() || rest.len() > 1 && rest.starts_with('.'),
        None => false,
    }
}

/// A plausible Kubernetes object name (lenient: any non-empty name without `/`).
fn is_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/')
}

#[cfg(test)]
mod tests;
