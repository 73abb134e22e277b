use super::*;
use crate::route::matchers::parse_matchers;
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const RETENTION: Duration = Duration::from_secs(120 * 3600);

fn store(clock: Clock) -> Silences {
    Silences::open(None, clock, RETENTION).unwrap()
}

fn silence(matchers: &str, starts: i64, ends: i64) -> Silence {
    Silence {
        id: String::new(),
        matchers: parse_matchers(matchers).unwrap(),
        starts_at_ms: starts,
        ends_at_ms: ends,
        updated_at_ms: 0,
        created_by: "me".into(),
        comment: "maintenance".into(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

async fn advance_ms(ms: i64) {
    tokio::time::sleep(Duration::from_millis(ms as u64)).await;
}

#[test]
fn new_silence_gets_uuid_v4_and_start_not_before_now() {
    let s = store(Clock::starting_at(T0));
    let id = s.set(silence("alertname=\"A\"", T0 - HOUR, T0 + HOUR)).unwrap();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
    assert!(parts[2].starts_with('4'), "version 4: {id}");
    assert!(matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')), "variant: {id}");
    assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let (got, state) = s.get(&id).unwrap();
    assert_eq!(state, SilenceState::Active);
    assert!(
        got.starts_at_ms >= T0 && got.starts_at_ms < T0 + 1000,
        "start moved to now: {}",
        got.starts_at_ms
    );
    assert_eq!(got.updated_at_ms, got.starts_at_ms);
    assert_eq!((got.created_by.as_str(), got.comment.as_str()), ("me", "maintenance"));
    assert_ne!(id, s.set(silence("alertname=\"A\"", 0, T0 + HOUR)).unwrap());
}

#[test]
fn validation_follows_alertmanager() {
    let s = store(Clock::starting_at(T0));
    let err = |sil: Silence| match s.set(sil) {
        Err(SilenceError::Invalid(m)) => m,
        other => panic!("expected invalid, got {other:?}"),
    };
    let mut none = silence("a=\"b\"", T0, T0 + HOUR);
    none.matchers.clear();
    assert_eq!(err(none), "at least one matcher required");
    assert_eq!(
        err(silence("a=\"\", b=~\".*\"", T0, T0 + HOUR)),
        "at least one matcher must not match the empty string"
    );
    assert_eq!(
        err(silence("a=~\"x|\"", T0, T0 + HOUR)),
        "at least one matcher must not match the empty string"
    );
    assert_eq!(err(silence("a=\"b\"", T0, 0)), "invalid zero end timestamp");
    assert_eq!(err(silence("a=\"b\"", T0 + HOUR, T0 + HOUR - 1)), "end time must not be before start time");
    let mut unnamed = silence("a=\"b\"", T0, T0 + HOUR);
    unnamed.matchers.push(Matcher::new("", MatchType::Equal, "x").unwrap());
    assert_eq!(err(unnamed), "invalid label matcher 1: invalid label name \"\"");
    // Negative matchers never count as matching the empty string (as upstream).
    assert!(s.set(silence("a!=\"b\"", T0, T0 + HOUR)).is_ok());
    assert!(s.set(silence("a=\"\", b=\"c\"", T0, T0 + HOUR)).is_ok());
    assert_eq!(s.list().len(), 2);
}

#[test]
fn set_with_unknown_id_is_not_found() {
    let s = store(Clock::starting_at(T0));
    let mut sil = silence("a=\"b\"", T0, T0 + HOUR);
    sil.id = "5d0c9f2e-0000-4000-8000-000000000000".into();
    assert!(matches!(s.set(sil), Err(SilenceError::NotFound)));
    assert!(s.list().is_empty());
}

#[tokio::test(start_paused = true)]
async fn states_follow_the_clock_and_version_moves_with_them() {
    let s = store(Clock::starting_at(T0));
    let v0 = s.version();
    let id = s.set(silence("a=\"b\"", T0 + HOUR, T0 + 2 * HOUR)).unwrap();
    let v1 = s.version();
    assert!(v1 > v0);
    let l = labels(&[("a", "b")]);
    assert_eq!(s.get(&id).unwrap().1, SilenceState::Pending);
    assert!(s.mutes(&l).is_empty(), "a pending silence mutes nothing");
    assert_eq!(s.version(), v1, "no change, no transition");

    advance_ms(HOUR).await;
    assert_eq!(s.get(&id).unwrap().1, SilenceState::Active);
    assert_eq!(s.mutes(&l), vec![id.clone()]);
    let v2 = s.version();
    assert!(v2 > v1, "becoming active moves the version");
    assert_eq!(s.version(), v2);

    advance_ms(HOUR).await;
    assert_eq!(s.get(&id).unwrap().1, SilenceState::Expired);
    assert!(s.mutes(&l).is_empty());
    assert!(s.version() > v2, "expiring moves the version");
    assert_eq!(s.count_by_state(), (0, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn active_silence_updates_in_place_when_history_is_kept() {
    let s = store(Clock::starting_at(T0));
    let id = s.set(silence("a=\"b\"", T0, T0 + HOUR)).unwrap();
    advance_ms(60_000).await;
    let (mut sil, _) = s.get(&id).unwrap();
    sil.ends_at_ms = T0 + 3 * HOUR;
    sil.comment = "longer".into();
    sil.starts_at_ms += 400; // same second
    let v = s.version();
    assert_eq!(s.set(sil).unwrap(), id, "same ID");
    assert!(s.version() > v);
    let (got, state) = s.get(&id).unwrap();
    assert_eq!(
        (got.ends_at_ms, got.comment.as_str(), state),
        (T0 + 3 * HOUR, "longer", SilenceState::Active)
    );
    assert_eq!(got.updated_at_ms, T0 + 60_000);
    assert_eq!(s.list().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn changes_that_rewrite_history_expire_the_old_silence() {
    let s = store(Clock::starting_at(T0));
    let id = s.set(silence("a=\"b\"", T0, T0 + HOUR)).unwrap();
    advance_ms(60_000).await;

    // Different matchers: a new silence, the old one expired now.
    let (mut sil, _) = s.get(&id).unwrap();
    sil.matchers = parse_matchers("a=\"c\"").unwrap();
    let id2 = s.set(sil).unwrap();
    assert_ne!(id2, id);
    let (old, old_state) = s.get(&id).unwrap();
    assert_eq!((old_state, old.ends_at_ms), (SilenceState::Expired, T0 + 60_000));
    let (new, new_state) = s.get(&id2).unwrap();
    assert_eq!((new_state, new.starts_at_ms), (SilenceState::Active, T0 + 60_000));

    // Moving the start of an active silence: new silence too.
    let (mut sil, _) = s.get(&id2).unwrap();
    sil.starts_at_ms -= 5_000;
    let id3 = s.set(sil).unwrap();
    assert_ne!(id3, id2);
    assert_eq!(s.get(&id2).unwrap().1, SilenceState::Expired);

    // Ending an active silence in the past: not in place.
    advance_ms(10_000).await;
    let (mut sil, _) = s.get(&id3).unwrap();
    sil.ends_at_ms = T0 + 65_000;
    let id4 = s.set(sil).unwrap();
    assert_ne!(id4, id3);
    assert_eq!(s.get(&id3).unwrap().1, SilenceState::Expired);

    // An expired silence is never updated in place; "re-opening" it leaves it expired.
    let (mut sil, _) = s.get(&id).unwrap();
    sil.ends_at_ms = T0 + 5 * HOUR;
    let id5 = s.set(sil).unwrap();
    assert_ne!(id5, id);
    let (old, state) = s.get(&id).unwrap();
    assert_eq!((state, old.ends_at_ms), (SilenceState::Expired, T0 + 60_000));
    assert_eq!(s.get(&id5).unwrap().1, SilenceState::Active);
    assert_eq!(s.count_by_state(), (1, 0, 4), "id, id2, id3 and id4 (ended in the past) expired");
}

#[tokio::test(start_paused = true)]
async fn pending_silence_may_move_its_start_into_the_future_only() {
    let s = store(Clock::starting_at(T0));
    let id = s.set(silence("a=\"b\"", T0 + HOUR, T0 + 2 * HOUR)).unwrap();
    let (mut sil, _) = s.get(&id).unwrap();
    sil.starts_at_ms = T0 + 30 * 60_000;
    assert_eq!(s.set(sil).unwrap(), id);
    assert_eq!(s.get(&id).unwrap().0.starts_at_ms, T0 + 30 * 60_000);

    // A start in the past makes a new (active) silence and expires the pending one.
    let (mut sil, _) = s.get(&id).unwrap();
    sil.starts_at_ms = T0 - 1000;
    let id2 = s.set(sil).unwrap();
    assert_ne!(id2, id);
    let (old, state) = s.get(&id).unwrap();
    assert_eq!((state, old.starts_at_ms, old.ends_at_ms), (SilenceState::Expired, T0, T0));
    let (new, state) = s.get(&id2).unwrap();
    assert_eq!((state, new.starts_at_ms), (SilenceState::Active, T0));
}

#[tokio::test(start_paused = true)]
async fn expire_ends_active_and_pending_silences_now() {
    let s = store(Clock::starting_at(T0));
    let active = s.set(silence("a=\"b\"", T0, T0 + HOUR)).unwrap();
    let pending = s.set(silence("a=\"b\"", T0 + HOUR, T0 + 2 * HOUR)).unwrap();
    advance_ms(1_000).await;
    s.expire(&active).unwrap();
    s.expire(&pending).unwrap();
    let (a, st) = s.get(&active).unwrap();
    assert_eq!(
        (st, a.starts_at_ms, a.ends_at_ms, a.updated_at_ms),
        (SilenceState::Expired, T0, T0 + 1_000, T0 + 1_000)
    );
    let (p, st) = s.get(&pending).unwrap();
    assert_eq!((st, p.starts_at_ms, p.ends_at_ms), (SilenceState::Expired, T0 + 1_000, T0 + 1_000));
    assert!(s.mutes(&labels(&[("a", "b")])).is_empty());

    // Expiring again changes nothing (current Alertmanager: idempotent).
    let v = s.version();
    advance_ms(1_000).await;
    s.expire(&active).unwrap();
    assert_eq!(s.get(&active).unwrap().0, a);
    assert_eq!(s.version(), v);
    assert!(matches!(s.expire("nope"), Err(SilenceError::NotFound)));
}

#[test]
fn mutes_lists_matching_active_silences_sorted() {
    let s = store(Clock::starting_at(T0));
    let ids: Vec<String> = [
        "alertname=\"Down\"",
        "alertname=~\"Do.*\", env!=\"prod\"",
        "instance=~\"host-[0-9]+\"",
        "alertname=\"Other\"",
        "team!~\"db|infra\", alertname=\"Down\"",
    ]
    .iter()
    .map(|m| s.set(silence(m, T0, T0 + HOUR)).unwrap())
    .collect();
    let down = labels(&[("alertname", "Down"), ("instance", "host-12")]);
    let mut want = vec![ids[0].clone(), ids[1].clone(), ids[2].clone(), ids[4].clone()];
    want.sort();
    assert_eq!(s.mutes(&down), want);
    let prod = labels(&[("alertname", "Down"), ("env", "prod"), ("instance", "db"), ("team", "db")]);
    assert_eq!(s.mutes(&prod), vec![ids[0].clone()]);
    assert!(s.mutes(&labels(&[("alertname", "Up")])).is_empty());
}

#[test]
fn list_matching_is_the_api_filter() {
    let s = store(Clock::starting_at(T0));
    let a = s.set(silence("alertname=\"A\", env=~\"prod|stage\"", T0, T0 + HOUR)).unwrap();
    let b = s.set(silence("alertname=\"A\"", T0, T0 + HOUR)).unwrap();
    let ids = |f: &str| -> Vec<String> {
        let mut v: Vec<String> =
            s.list_matching(&parse_matchers(f).unwrap()).into_iter().map(|(x, _)| x.id).collect();
        v.sort();
        v
    };
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(ids("alertname=\"A\""), both);
    assert_eq!(ids("env=~\"prod|stage\""), vec![a.clone()]);
    assert!(ids("env=\"prod\"").is_empty(), "same name, operator and value only");
    assert_eq!(ids("{}"), both);
}

#[tokio::test(start_paused = true)]
async fn gc_removes_silences_expired_longer_than_retention() {
    let s = Silences::open(None, Clock::starting_at(T0), Duration::from_secs(3600)).unwrap();
    let short = s.set(silence("a=\"b\"", T0, T0 + 60_000)).unwrap();
    let long = s.set(silence("a=\"b\"", T0, T0 + 3 * HOUR)).unwrap();
    advance_ms(60_000 + HOUR - 1).await;
    assert_eq!(s.gc().unwrap(), 0);
    advance_ms(1).await;
    let v = s.version();
    assert_eq!(s.gc().unwrap(), 1);
    assert!(s.version() > v);
    assert!(s.get(&short).is_none());
    assert!(s.get(&long).is_some());
}

#[tokio::test(start_paused = true)]
async fn run_gc_collects_periodically_until_shutdown() {
    let s =
        std::sync::Arc::new(Silences::open(None, Clock::starting_at(T0), Duration::from_secs(60)).unwrap());
    let id = s.set(silence("a=\"b\"", T0, T0 + 1_000)).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn({
        let (s, shutdown) = (s.clone(), shutdown.clone());
        async move { s.run_gc(Duration::from_secs(900), shutdown).await }
    });
    for _ in 0..100 {
        if s.get(&id).is_none() {
            break;
        }
        advance_ms(60_000).await;
    }
    assert!(s.get(&id).is_none(), "collected by the maintenance task");
    shutdown.cancel();
    task.await.unwrap();
}

/// Garbage collection writes the file; it must not block the runtime while it does. The
/// temporary file is made a FIFO, so the write blocks in `open` until a reader comes: the
/// runtime (one thread) has to keep running meanwhile. (Were the write done on the runtime,
/// the reader, which drains every write after a timeout, lets the test run on to fail.)
#[cfg(unix)]
#[tokio::test]
async fn run_gc_writes_on_the_blocking_pool() {
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(Silences::open(Some(dir.path()), Clock::system(), Duration::from_millis(1)).unwrap());
    let id = s.set(silence("a=\"b\"", 0, Clock::system().now_ms() + 1)).unwrap();
    let fifo = dir.path().join("silences.json.tmp");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());

    // The reader starts when told (or after a while), then passes on every write until
    // stopped (a write with the stop flag set).
    let (go, wait) = mpsc::channel::<()>();
    let (sink, writes) = mpsc::channel::<Vec<u8>>();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let (fifo, stop) = (fifo.clone(), Arc::clone(&stop));
        move || {
            let _ = wait.recv_timeout(Duration::from_secs(5));
            loop {
                let bytes = std::fs::read(&fifo).unwrap();
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let _ = sink.send(bytes);
            }
        }
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&s).run_gc(Duration::from_millis(10), shutdown.clone()));

    let started = std::time::Instant::now();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the runtime stalled for {:?} while the collection was writing",
        started.elapsed()
    );
    assert!(s.get(&id).is_some(), "the collection is still stuck in its write");
    // Stop first, so that no second collection runs (the FIFO makes the write fail at its
    // fsync, so the silence would be collected again).
    shutdown.cancel();
    go.send(()).unwrap();
    let written = tokio::task::spawn_blocking(move || writes.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&written).contains(r#""silences":[]"#), "the collection's write");
    task.await.unwrap();
    // Release the reader from its next open.
    stop.store(true, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || {
        drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
        reader.join().unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn limit_refuses_new_silences_beyond_max_non_expired() {
    assert_eq!(store(Clock::starting_at(T0)).max_silences, DEFAULT_MAX_SILENCES);
    assert_eq!(DEFAULT_MAX_SILENCES, 10_000);

    let s = store(Clock::starting_at(T0)).with_max_silences(2);
    let a = s.set(silence("a=\"1\"", T0, T0 + HOUR)).unwrap();
    let pending = s.set(silence("a=\"2\"", T0 + HOUR, T0 + 2 * HOUR)).unwrap();
    let err = s.set(silence("a=\"3\"", T0, T0 + HOUR)).unwrap_err();
    assert!(matches!(err, SilenceError::TooMany { count: 2, max: 2 }), "{err:?}");
    assert_eq!(err.to_string(), "exceeded maximum number of silences: 2 (limit: 2)");
    assert_eq!((s.list().len(), s.refused()), (2, 1));

    // Updates never hit the limit: in place, or replacing a live silence (which expires).
    let (mut sil, _) = s.get(&a).unwrap();
    sil.comment = "longer".into();
    assert_eq!(s.set(sil).unwrap(), a);
    advance_ms(1_000).await;
    let (mut sil, _) = s.get(&a).unwrap();
    sil.matchers = parse_matchers("a=\"4\"").unwrap();
    let replaced = s.set(sil).unwrap();
    assert_ne!(replaced, a);
    assert_eq!(s.get(&a).unwrap().1, SilenceState::Expired);
    assert_eq!(s.refused(), 1);

    // Expired silences do not count...
    s.expire(&pending).unwrap();
    let b = s.set(silence("a=\"5\"", T0, T0 + HOUR)).unwrap();
    // ...but re-opening one adds a live silence.
    let (mut old, _) = s.get(&pending).unwrap();
    old.ends_at_ms = T0 + 5 * HOUR;
    assert!(matches!(s.set(old), Err(SilenceError::TooMany { count: 2, max: 2 })));
    assert_eq!(s.refused(), 2);
    assert_eq!(s.count_by_state(), (2, 0, 2), "{replaced} and {b} active");

    let unlimited = store(Clock::starting_at(T0)).with_max_silences(0);
    for i in 0..3 {
        unlimited.set(silence(&format!("a=\"{i}\""), T0, T0 + HOUR)).unwrap();
    }
    assert_eq!(unlimited.list().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn metrics_export_states_corrupt_files_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(SILENCES_FILE), b"not a silences file").unwrap();
    let s = Arc::new(
        Silences::open(Some(dir.path()), Clock::starting_at(T0), RETENTION).unwrap().with_max_silences(2),
    );
    let mut registry = Registry::default();
    s.register_metrics(&mut registry);
    s.set(silence("a=\"1\"", T0, T0 + 3 * HOUR)).unwrap();
    let expired = s.set(silence("a=\"2\"", T0, T0 + HOUR)).unwrap();
    s.expire(&expired).unwrap();
    s.set(silence("a=\"3\"", T0 + HOUR, T0 + 2 * HOUR)).unwrap();
    assert!(s.set(silence("a=\"4\"", T0, T0 + HOUR)).is_err());

    let text = || {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    };
    let out = text();
    for line in [
        "# TYPE harrier_router_alertmanager_silences gauge",
        "harrier_router_alertmanager_silences{state=\"active\"} 1",
        "harrier_router_alertmanager_silences{state=\"pending\"} 1",
        "harrier_router_alertmanager_silences{state=\"expired\"} 1",
        "# TYPE harrier_router_alertmanager_silence_files_corrupt counter",
        "harrier_router_alertmanager_silence_files_corrupt_total 1",
        "harrier_router_alertmanager_silences_refused_total 1",
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
    }
    // Read at each scrape: the pending one becomes active.
    advance_ms(HOUR).await;
    let later = text();
    assert!(
        later.lines().any(|l| l == "harrier_router_alertmanager_silences{state=\"active\"} 2"),
        "{later}"
    );
    assert!(
        later.lines().any(|l| l == "harrier_router_alertmanager_silences{state=\"pending\"} 0"),
        "{later}"
    );
    drop(s);
    assert!(!text().contains("harrier_router_alertmanager_silences"), "gone with the store");
}

#[tokio::test(start_paused = true)]
async fn silences_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::starting_at(T0);
    let s = Silences::open(Some(dir.path()), clock, RETENTION).unwrap();
    let mut sil = silence("alertname=~\"Disk.*\", host!=\"a \\\"b\\\"\"", T0, T0 + HOUR);
    sil.comment = "ünïcode \n comment".into();
    let id = s.set(sil).unwrap();
    let expired = s.set(silence("x=\"y\"", T0, T0 + HOUR)).unwrap();
    s.expire(&expired).unwrap();
    let before = s.list();
    drop(s);

    let text = std::fs::read_to_string(dir.path().join(SILENCES_FILE)).unwrap();
    assert!(text.lines().last().unwrap().starts_with("crc32c "), "{text}");

    advance_ms(60_000).await;
    let s = Silences::open(Some(dir.path()), clock, RETENTION).unwrap();
    assert_eq!(s.corrupt_files(), 0);
    assert_eq!(s.list(), before);
    assert_eq!(s.mutes(&labels(&[("alertname", "DiskFull"), ("host", "c")])), vec![id.clone()]);
    // The restored store keeps writing.
    s.expire(&id).unwrap();
    drop(s);
    let s = Silences::open(Some(dir.path()), clock, RETENTION).unwrap();
    assert_eq!(s.get(&id).unwrap().1, SilenceState::Expired);
}

#[tokio::test(start_paused = true)]
async fn restart_drops_silences_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::starting_at(T0);
    let s = Silences::open(Some(dir.path()), clock, Duration::from_secs(3600)).unwrap();
    let id = s.set(silence("a=\"b\"", T0, T0 + 1_000)).unwrap();
    drop(s);
    advance_ms(HOUR + 1_000).await;
    let s = Silences::open(Some(dir.path()), clock, Duration::from_secs(3600)).unwrap();
    assert!(s.get(&id).is_none());
}

#[test]
fn corrupt_file_is_counted_and_moved_aside_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::starting_at(T0);
    let s = Silences::open(Some(dir.path()), clock, RETENTION).unwrap();
    s.set(silence("a=\"b\"", T0, T0 + HOUR)).unwrap();
    drop(s);
    let path = dir.path().join(SILENCES_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x20; // flip one bit in the JSON
    std::fs::write(&path, &bytes).unwrap();

    let s = Silences::open(Some(dir.path()), clock, RETENTION).unwrap();
    assert_eq!(s.corrupt_files(), 1);
    assert!(s.list().is_empty());
    assert_eq!(std::fs::read(dir.path().join("silences.json.corrupt")).unwrap(), bytes);
    // New silences are written again and load back.
    let id = s.set(silence("c=\"d\"", T0, T0 + HOUR)).unwrap();
    drop(s);
    let s = Silences::open(Some(dir.path()), clock, RETENTION).unwrap();
    assert_eq!(s.corrupt_files(), 0);
    assert_eq!(s.list().len(), 1);
    assert!(s.get(&id).is_some());

    // Garbage and a valid checksum over bad content are corrupt too.
    for junk in [b"not json at all".to_vec(), {
        let json = br#"{"format":1,"silences":[{"id":"x","matchers":[{"name":"a","op":"=~","value":"("}],"startsAt":0}]}"#;
        let mut v = json.to_vec();
        v.extend_from_slice(format!("\ncrc32c {:08x}\n", crc32c::crc32c(json)).as_bytes());
        v
    }] {
        std::fs::write(&path, junk).unwrap();
        let s = Silences::open(Some(dir.path()), clock, RETENTION).unwrap();
        assert_eq!(s.corrupt_files(), 1);
        assert!(s.list().is_empty());
    }
}

#[test]
fn failed_write_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::starting_at(T0);
    let s = Silences::open(Some(dir.path()), clock, RETENTION).unwrap();
    let id = s.set(silence("a=\"b\"", T0, T0 + HOUR)).unwrap();
    // A directory where the temporary file goes makes the write fail.
    std::fs::create_dir(dir.path().join("silences.json.tmp")).unwrap();
    let v = s.version();
    assert!(matches!(s.set(silence("c=\"d\"", T0, T0 + HOUR)), Err(SilenceError::State(_))));
    assert!(matches!(s.expire(&id), Err(SilenceError::State(_))));
    assert_eq!(s.list().len(), 1);
    assert_eq!(s.get(&id).unwrap().1, SilenceState::Active);
    assert_eq!(s.version(), v);
}
