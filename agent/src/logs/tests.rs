use super::*;

fn chunk(commit: &Arc<FileCommit>, end_offset: u64, sinks: usize) -> LogChunk {
    let mut builder = ChunkBuilder::default();
    builder.push(StdStream::Stdout, 1, b"a line");
    LogChunk {
        streams: Vec::new(),
        metadata: Vec::new(),
        entries: builder.entries,
        data: builder.data,
        delivery: Some(Delivery {
            commit: Arc::clone(commit),
            end_offset,
            pending_sinks: AtomicUsize::new(sinks),
        }),
        budget: None,
    }
}

#[test]
fn offset_commits_only_when_every_sink_delivered() {
    let commit = Arc::new(FileCommit::new(10));
    let c = chunk(&commit, 100, 2);
    c.delivered();
    assert_eq!(commit.get(), 10, "one of two sinks is not a delivery");
    c.delivered();
    assert_eq!(commit.get(), 100);
    // A later, smaller offset never moves the commit back.
    chunk(&commit, 50, 1).delivered();
    assert_eq!(commit.get(), 100);
}

#[test]
fn invalid_utf8_is_replaced_and_counted() {
    let mut builder = ChunkBuilder::default();
    builder.push(StdStream::Stderr, 5, b"ok");
    builder.push(StdStream::Stdout, 6, b"bad \xff\xfe end");
    builder.push(StdStream::Stderr, 7, b"ok again");
    assert_eq!(builder.invalid_utf8, 1);
    assert_eq!(builder.stream_kinds, vec![StdStream::Stderr, StdStream::Stdout]);
    let chunk = LogChunk {
        streams: Vec::new(),
        metadata: Vec::new(),
        entries: builder.entries.clone(),
        data: builder.data,
        delivery: None,
        budget: None,
    };
    let lines: Vec<&str> = chunk.entries.iter().map(|e| chunk.line(e)).collect();
    // Replaced, and cut to the length of the bytes read (10), at a character boundary.
    assert_eq!(lines, vec!["ok", "bad \u{fffd}\u{fffd}", "ok again"]);
    assert_eq!(chunk.entries.iter().map(|e| e.stream).collect::<Vec<_>>(), vec![0, 1, 0]);
}

#[tokio::test]
async fn budget_blocks_until_chunks_are_dropped() {
    let budget = LogBudget::new(100);
    let first = budget.acquire(60).await;
    assert!(first.is_some());
    assert_eq!(budget.in_use(), 60);
    // 60 more do not fit until the first permit is gone.
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), budget.acquire(60)).await;
    assert!(waiting.is_err(), "acquire must wait while the budget is spent");
    drop(first);
    let second = budget.acquire(60).await;
    assert!(second.is_some());
    // More than the whole budget is capped at the budget, so it cannot wait forever.
    drop(second);
    assert!(budget.acquire(1_000).await.is_some());
}
