use super::*;
use std::path::Path;

fn waker() -> (mio::Poll, Arc<Waker>) {
    let poll = mio::Poll::new().unwrap();
    let w = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
    (poll, w)
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hub-rec-{}-{name}", std::process::id()));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

fn datagram(seq: u32) -> Vec<u8> {
    format!(
        "S1,2025-10-22 18:20:{seq:02},temperature,{}.5,SEQ:{seq},CYCLE:3",
        seq
    )
    .into_bytes()
}

fn count_rows(p: &Path) -> i64 {
    let c = rusqlite::Connection::open(p).unwrap();
    c.query_row("SELECT count(*) FROM readings", [], |r| r.get(0))
        .unwrap()
}

fn cfg(path: PathBuf) -> RecorderConfig {
    RecorderConfig {
        path,
        keep: None,
        queue: RECORDER_QUEUE,
    }
}

#[test]
fn every_offered_row_is_written_in_order_and_counted() {
    let p = tmp("order.db");
    let (_poll, w) = waker();
    let mut r = Recorder::start(cfg(p.clone()), w).unwrap();
    let bytes: Vec<Vec<u8>> = (1..=50).map(datagram).collect();
    for (i, b) in bytes.iter().enumerate() {
        r.offer(&Datagram::parse(b).unwrap(), 1_000 + i as i64);
    }
    r.close();
    let s = r.stats();
    assert_eq!(
        (s.accepted, s.written, s.dropped_queue_full, s.write_errors),
        (50, 50, 0, 0)
    );
    assert_eq!(s.in_flight, 0);
    let c = rusqlite::Connection::open(&p).unwrap();
    let mut st = c
        .prepare(
            "SELECT device, type, value, device_ts, hub_us, seq, cycle FROM readings ORDER BY id",
        )
        .unwrap();
    let got: Vec<(String, String, f64, String, i64, u32, i64)> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), 50);
    for (i, row) in got.iter().enumerate() {
        let seq = i as u32 + 1;
        assert_eq!(row.0, "S1");
        assert_eq!(row.1, "temperature");
        assert_eq!(row.2, seq as f64 + 0.5);
        assert_eq!(row.3, format!("2025-10-22 18:20:{seq:02}"));
        assert_eq!(row.4, 1_000 + i as i64);
        assert_eq!((row.5, row.6), (seq, 3));
    }
}

#[test]
fn a_database_that_cannot_open_counts_every_row_as_a_write_error() {
    let (_poll, w) = waker();
    let mut r = Recorder::start(cfg(PathBuf::from("/nonexistent-hub-dir/r.db")), w).unwrap();
    let b = datagram(1);
    for _ in 0..10 {
        r.offer(&Datagram::parse(&b).unwrap(), 1);
    }
    r.close();
    let s = r.stats();
    assert_eq!((s.accepted, s.written, s.write_errors), (10, 0, 10));
    assert!(!s.db_open);
    assert!(
        s.unhealthy().unwrap().contains("not open"),
        "{:?}",
        s.unhealthy()
    );
}

#[test]
fn a_full_queue_drops_and_counts_and_the_identity_holds() {
    let p = tmp("full.db");
    let (_poll, w) = waker();
    let mut r = Recorder::start(
        RecorderConfig {
            path: p.clone(),
            keep: None,
            queue: 2,
        },
        w,
    )
    .unwrap();
    let b = datagram(1);
    let d = Datagram::parse(&b).unwrap();
    for i in 0..20_000 {
        r.offer(&d, i);
    }
    r.close();
    let s = r.stats();
    assert_eq!(s.accepted, 20_000);
    assert_eq!(
        s.accepted,
        s.written + s.dropped_queue_full + s.write_errors
    );
    assert!(s.dropped_queue_full > 0, "{s:?}");
    assert_eq!(count_rows(&p) as u64, s.written);
}

#[test]
fn history_is_newest_first_capped_and_answered_with_a_wake() {
    let p = tmp("hist.db");
    let (mut poll, w) = waker();
    let mut r = Recorder::start(cfg(p), w).unwrap();
    let bytes: Vec<Vec<u8>> = (1..=9).map(datagram).collect();
    for (i, b) in bytes.iter().enumerate() {
        r.offer(&Datagram::parse(b).unwrap(), 100 * (i as i64 + 1));
    }
    r.query(Query {
        tag: 7,
        device: "S1".into(),
        since_us: 300,
        limit: 4,
    })
    .unwrap();
    let mut events = mio::Events::with_capacity(4);
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        if let Some(a) = r.answers().next() {
            break a;
        }
        assert!(Instant::now() < deadline, "no answer");
    };
    assert_eq!((answer.tag, answer.device.as_str()), (7, "S1"));
    let rows = answer.rows.unwrap();
    let seqs: Vec<u32> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [9, 8, 7, 6]);
    assert_eq!(rows[0].hub_us, 900);
    assert_eq!(rows[0].cycle, Some(3));
    r.close();
}

#[test]
fn retention_deletes_old_rows_in_batches() {
    let p = tmp("keep.db");
    let counters = Arc::new(Counters::default());
    let now = Instant::now();
    let mut w = Writer::new(p.clone(), counters.clone(), now);
    let b = datagram(1);
    let d = Datagram::parse(&b).unwrap();
    let old = writer::RETENTION_BATCH as usize * 2 + 5;
    for i in 0..old {
        w.push(Row::of(&d, i as i64));
    }
    for i in 0..10 {
        w.push(Row::of(&d, 1_000_000 + i));
    }
    w.flush(now);
    assert!(w.retention_step(now, 500_000), "first batch leaves more");
    assert!(w.retention_step(now, 500_000));
    assert!(
        !w.retention_step(now, 500_000),
        "the last 5 old rows end it"
    );
    assert_eq!(
        counters.retention_deleted.load(Ordering::Relaxed),
        old as u64
    );
    assert_eq!(count_rows(&p), 10);
}

#[test]
fn unhealthy_says_why() {
    let mut s = RecorderStats {
        path: "x".into(),
        accepted: 0,
        written: 0,
        dropped_queue_full: 0,
        write_errors: 0,
        in_flight: 0,
        queue_depth: 0,
        queue_capacity: 10,
        batches: 0,
        retention_deleted: 0,
        history_queries: 0,
        db_open: true,
        lag_s: 0.0,
        last_error: None,
        last_error_age_s: None,
    };
    assert_eq!(s.unhealthy(), None);
    s.queue_depth = 6;
    assert!(s.unhealthy().unwrap().contains("queue 6/10"));
    s.queue_depth = 0;
    s.last_error = Some("database or disk is full".into());
    s.last_error_age_s = Some(1.0);
    assert!(s.unhealthy().unwrap().contains("disk is full"));
    s.last_error_age_s = Some(60.0);
    assert_eq!(s.unhealthy(), None);
}
