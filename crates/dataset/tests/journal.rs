mod common;

use std::io::Write;

use common::{SECOND, T0, request, sample};
use dataset::{DatasetError, Journal, SampleJournal, completed_seqs};

fn append_raw(path: &std::path::Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn requests_round_trip_in_append_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    let rows: Vec<_> = (0..6)
        .map(|seq| request(seq, "small#0", T0, T0 + SECOND))
        .collect();
    let mut journal = Journal::open(&path).unwrap();
    for row in &rows {
        journal.append(row).unwrap();
    }
    assert_eq!(Journal::read(&path).unwrap(), rows);
    assert_eq!(
        completed_seqs(&rows).into_iter().collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn torn_last_line_is_dropped_and_cut_off_before_appending_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    let rows: Vec<_> = (0..3)
        .map(|seq| request(seq, "small#0", T0, T0 + SECOND))
        .collect();
    let mut journal = Journal::open(&path).unwrap();
    journal.append(&rows[0]).unwrap();
    journal.append(&rows[1]).unwrap();
    drop(journal);
    // A crash in the middle of the third append.
    let third = serde_json::to_string(&rows[2]).unwrap();
    append_raw(&path, &third.as_bytes()[..third.len() / 2]);
    assert_eq!(Journal::read(&path).unwrap(), rows[..2]);

    // A resumed run re-opens the journal: the fragment goes, the re-sent request lands whole.
    let mut journal = Journal::open(&path).unwrap();
    journal.append(&rows[2]).unwrap();
    assert_eq!(Journal::read(&path).unwrap(), rows);
}

#[test]
fn a_complete_line_missing_only_its_newline_counts_as_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    let row = request(0, "small#0", T0, T0 + SECOND);
    Journal::open(&path).unwrap().append(&row).unwrap();
    append_raw(&path, serde_json::to_string(&row).unwrap().as_bytes());
    assert_eq!(Journal::read(&path).unwrap(), [row]);
}

#[test]
fn corruption_before_the_last_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    let mut journal = Journal::open(&path).unwrap();
    journal
        .append(&request(0, "small#0", T0, T0 + SECOND))
        .unwrap();
    append_raw(&path, b"{\"run_id\": \"run-1\", \"se\n");
    journal
        .append(&request(1, "small#0", T0, T0 + SECOND))
        .unwrap();
    match Journal::read(&path) {
        Err(DatasetError::JournalLine { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected a corrupt line 2, got {other:?}"),
    }
}

#[test]
fn a_complete_but_invalid_last_line_is_an_error_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    Journal::open(&path)
        .unwrap()
        .append(&request(0, "small#0", T0, T0 + SECOND))
        .unwrap();
    append_raw(&path, b"{\"seq\": 1}\n");
    assert!(matches!(
        Journal::read(&path),
        Err(DatasetError::JournalLine { line: 2, .. })
    ));
}

#[test]
fn empty_and_missing_journals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    assert!(matches!(Journal::read(&path), Err(DatasetError::Io { .. })));
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.path(), path);
    assert_eq!(Journal::read(&path).unwrap(), []);
}

#[test]
fn samples_reach_disk_per_batch_and_on_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samples.jsonl");
    let rows: Vec<_> = (0..10)
        .map(|i| {
            sample(
                T0 + i * SECOND,
                "small#0",
                "process_cpu_percent",
                i as f64 * 0.5,
            )
        })
        .collect();
    let mut journal = SampleJournal::open(&path, 4).unwrap();
    for row in &rows {
        journal.push(row).unwrap();
    }
    assert_eq!(journal.pending(), 2);
    assert_eq!(SampleJournal::read(&path).unwrap(), rows[..8]);
    journal.flush().unwrap();
    assert_eq!(journal.pending(), 0);
    assert_eq!(SampleJournal::read(&path).unwrap(), rows);

    // Dropping flushes what is left.
    let mut journal = SampleJournal::open(&path, 100).unwrap();
    journal.push(&rows[0]).unwrap();
    drop(journal);
    assert_eq!(SampleJournal::read(&path).unwrap().len(), 11);
}

#[test]
fn a_torn_sample_batch_keeps_its_complete_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samples.jsonl");
    let rows: Vec<_> = (0..3)
        .map(|i| {
            sample(
                T0 + i * SECOND,
                "medium#2",
                "cgroup_cpu_throttled_periods_total",
                i as f64,
            )
        })
        .collect();
    let mut batch = Vec::new();
    for row in &rows {
        batch.extend(serde_json::to_vec(row).unwrap());
        batch.push(b'\n');
    }
    std::fs::write(&path, &batch[..batch.len() - 10]).unwrap();
    assert_eq!(SampleJournal::read(&path).unwrap(), rows[..2]);
    let mut journal = SampleJournal::open(&path, 1).unwrap();
    journal.push(&rows[2]).unwrap();
    assert_eq!(SampleJournal::read(&path).unwrap(), rows);
}
