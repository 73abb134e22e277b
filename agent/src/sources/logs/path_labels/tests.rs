use super::*;

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

#[test]
fn kubernetes_pod_log_paths() {
    let path = Path::new(
        "/var/log/pods/kube-system_coredns-5d78c9869d-x7vq2.v1_0c2a4b8e-6a1f-4c1e-9a39-3f4e2c1d0b9a/coredns/0.log",
    );
    assert_eq!(
        path_labels(PathLabels::Kubernetes, path),
        labels(&[
            ("container", "coredns"),
            ("namespace", "kube-system"),
            ("pod", "coredns-5d78c9869d-x7vq2.v1"),
            ("pod_uid", "0c2a4b8e-6a1f-4c1e-9a39-3f4e2c1d0b9a"),
        ])
    );
}

#[test]
fn kubernetes_rotated_names_and_other_roots() {
    let expected =
        labels(&[("container", "app"), ("namespace", "default"), ("pod", "web-0"), ("pod_uid", "1234-abcd")]);
    for file in ["3.log", "12.log.20240102-150405", "0.log.20240102-150405.gz"] {
        let path = format!("/host/var/log/pods/default_web-0_1234-abcd/app/{file}");
        assert_eq!(path_labels(PathLabels::Kubernetes, Path::new(&path)), expected, "{path}");
    }
}

#[test]
fn paths_of_another_shape_get_the_filename() {
    for path in [
        "/var/log/syslog",
        "/var/log/pods/default_web-0/app/0.log",
        "/var/log/pods/default_web_0_1234/app/0.log",
        "/var/log/pods/default__1234/app/0.log",
        "/var/log/pods/default_web-0_1234/app/app.log",
        "/var/log/pods/default_web-0_1234/app/0.log.",
        "/var/log/pods/default_web-0_1234/app/0.logs",
        "0.log",
        "/",
    ] {
        assert_eq!(
            path_labels(PathLabels::Kubernetes, Path::new(path)),
            labels(&[("filename", path)]),
            "{path}"
        );
    }
}

#[test]
fn filename_and_none_kinds() {
    let path = Path::new("/var/log/pods/default_web-0_1234-abcd/app/0.log");
    assert_eq!(path_labels(PathLabels::Filename, path), labels(&[("filename", path.to_str().unwrap())]));
    assert!(path_labels(PathLabels::None, path).is_empty());
}
