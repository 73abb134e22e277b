use super::*;

#[test]
fn parse_usage_reads_utime_stime_and_vmhwm() {
    // A command name with spaces and a parenthesis, as /proc shows it.
    let stat = "4242 (odd (name) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 100 0 0";
    let status = "Name:\todd\nVmPeak:\t  2048 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1024 kB\n";
    let usage = parse_usage(stat, status);
    assert_eq!(usage, Some(Usage { cpu_seconds: 3.25, peak_rss_mib: 1.5 }));
}

#[test]
fn parse_usage_rejects_truncated_input() {
    assert_eq!(parse_usage("4242 (x) S 1 2", "VmHWM: 1 kB"), None);
    assert_eq!(parse_usage("4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75", "Name: x"), None);
}

#[test]
fn free_port_is_bindable() {
    let port = free_port().ok();
    assert!(port.is_some_and(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()));
}
