use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn wait_readable(fd: std::os::fd::RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) == 1 }
}

/// Collects `n` completions the way an event loop would: wait for the fd, take, repeat.
fn collect<T>(mailbox: &Mailbox<T>, n: usize) -> Vec<Completion<T>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} completions",
            out.len()
        );
        if wait_readable(mailbox.fd(), Duration::from_millis(100)) {
            out.extend(mailbox.take());
        }
    }
    out
}

fn new_flag() -> Arc<CancelFlag> {
    Arc::new(CancelFlag::default())
}

/// A job that blocks the worker until the returned sender is dropped or sent to.
fn gate() -> (mpsc::Sender<()>, Job<u64>) {
    let (tx, rx) = mpsc::channel::<()>();
    (
        tx,
        Box::new(move || {
            let _ = rx.recv();
            Ok(0)
        }),
    )
}

#[test]
fn jobs_complete_in_fifo_order() {
    let worker = Worker::<u64>::spawn("t-fifo", 0).unwrap();
    let mailbox = Arc::new(Mailbox::new().unwrap());
    for i in 0..2000u64 {
        let job: Job<u64> = Box::new(move || Ok(i * 3));
        worker
            .submit(i, job, Arc::clone(&mailbox), new_flag())
            .unwrap();
    }
    let done = collect(&mailbox, 2000);
    for (i, c) in done.iter().enumerate() {
        assert_eq!(c.id, i as u64);
        assert_eq!(c.result, Ok(i as u64 * 3));
    }
}

#[test]
fn a_panic_becomes_that_jobs_error_and_the_worker_survives() {
    let worker = Worker::<u64>::spawn("t-panic", 0).unwrap();
    let mailbox = Arc::new(Mailbox::new().unwrap());
    let boom: Job<u64> = Box::new(|| panic!("boom in a job"));
    worker
        .submit(1, boom, Arc::clone(&mailbox), new_flag())
        .unwrap();
    worker
        .submit(2, Box::new(|| Ok(7)), Arc::clone(&mailbox), new_flag())
        .unwrap();
    let done = collect(&mailbox, 2);
    match &done[0].result {
        Err(Error::Internal(msg)) => assert!(msg.contains("boom in a job"), "{msg}"),
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert_eq!(done[1].result, Ok(7));
}

#[test]
fn errors_pass_through_unchanged() {
    let worker = Worker::<u64>::spawn("t-err", 0).unwrap();
    let mailbox = Arc::new(Mailbox::new().unwrap());
    let job: Job<u64> = Box::new(|| Err(Error::Request("bad request".into())));
    worker
        .submit(5, job, Arc::clone(&mailbox), new_flag())
        .unwrap();
    let done = collect(&mailbox, 1);
    assert_eq!(done[0].result, Err(Error::Request("bad request".into())));
}

#[test]
fn a_job_cancelled_before_it_starts_never_runs() {
    let worker = Worker::<u64>::spawn("t-cancel", 0).unwrap();
    let mailbox = Arc::new(Mailbox::new().unwrap());
    let ran = Arc::new(AtomicUsize::new(0));
    let (release, blocker) = gate();
    worker
        .submit(0, blocker, Arc::clone(&mailbox), new_flag())
        .unwrap();
    let cancelled = new_flag();
    let ran2 = Arc::clone(&ran);
    let job: Job<u64> = Box::new(move || {
        ran2.fetch_add(1, Ordering::SeqCst);
        Ok(1)
    });
    worker
        .submit(1, job, Arc::clone(&mailbox), Arc::clone(&cancelled))
        .unwrap();
    worker
        .submit(2, Box::new(|| Ok(2)), Arc::clone(&mailbox), new_flag())
        .unwrap();
    cancelled.cancel();
    drop(release);
    let done = collect(&mailbox, 2);
    assert_eq!(done.iter().map(|c| c.id).collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_job_cancelled_while_running_delivers_nothing() {
    let worker = Worker::<u64>::spawn("t-cancel-run", 0).unwrap();
    let mailbox = Arc::new(Mailbox::new().unwrap());
    let flag = new_flag();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let job: Job<u64> = Box::new(move || {
        let _ = started_tx.send(());
        let _ = release_rx.recv();
        Ok(1)
    });
    worker
        .submit(1, job, Arc::clone(&mailbox), Arc::clone(&flag))
        .unwrap();
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    flag.cancel();
    drop(release);
    worker
        .submit(2, Box::new(|| Ok(2)), Arc::clone(&mailbox), new_flag())
        .unwrap();
    let done = collect(&mailbox, 1);
    assert_eq!(done[0].id, 2);
    assert!(mailbox.is_empty());
}

#[test]
fn the_queue_limit_rejects_with_a_clear_error_and_can_be_lifted() {
    let worker = Worker::<u64>::spawn("t-limit", 2).unwrap();
    let mailbox = Arc::new(Mailbox::new().unwrap());
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let blocker: Job<u64> = Box::new(move || {
        let _ = started_tx.send(());
        let _ = release_rx.recv();
        Ok(0)
    });
    worker
        .submit(0, blocker, Arc::clone(&mailbox), new_flag())
        .unwrap();
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for id in 1..=2 {
        worker
            .submit(
                id,
                Box::new(move || Ok(id)),
                Arc::clone(&mailbox),
                new_flag(),
            )
            .unwrap();
    }
    assert_eq!(worker.queued(), 2);
    let err = worker
        .submit(3, Box::new(|| Ok(3)), Arc::clone(&mailbox), new_flag())
        .unwrap_err();
    assert_eq!(err, SubmitError::QueueFull { limit: 2 });
    assert!(err.to_string().contains("set_max_queue"), "{err}");
    worker.set_limit(0);
    worker
        .submit(3, Box::new(|| Ok(3)), Arc::clone(&mailbox), new_flag())
        .unwrap();
    drop(release);
    let done = collect(&mailbox, 4);
    assert_eq!(
        done.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(worker.queued(), 0);
}

#[cfg(target_os = "linux")]
#[test]
fn a_burst_of_completions_costs_one_wake_up() {
    let worker = Worker::<u64>::spawn("t-coalesce", 0).unwrap();
    let mailbox = Arc::new(Mailbox::new().unwrap());
    for i in 0..100u64 {
        worker
            .submit(i, Box::new(move || Ok(i)), Arc::clone(&mailbox), new_flag())
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while mailbox.len() < 100 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    // The eventfd counter counts writes: one for the whole burst.
    let mut buf = [0u8; 8];
    // SAFETY: reads 8 bytes into a local buffer from the mailbox's (non-blocking) eventfd.
    let n = unsafe { libc::read(mailbox.fd(), buf.as_mut_ptr().cast(), 8) };
    assert_eq!(n, 8);
    assert_eq!(u64::from_ne_bytes(buf), 1);
    assert_eq!(mailbox.take().len(), 100);
    assert!(!wait_readable(mailbox.fd(), Duration::ZERO));
}

#[test]
fn no_wake_up_is_lost_while_a_consumer_drains_concurrently() {
    let worker = Worker::<u64>::spawn("t-race", 0).unwrap();
    let mailbox = Arc::new(Mailbox::new().unwrap());
    let n = 50_000u64;
    let consumer = {
        let mailbox = Arc::clone(&mailbox);
        std::thread::spawn(move || collect(&mailbox, n as usize))
    };
    for i in 0..n {
        worker
            .submit(i, Box::new(move || Ok(i)), Arc::clone(&mailbox), new_flag())
            .unwrap();
    }
    let done = consumer.join().unwrap();
    assert!(done.iter().map(|c| c.id).eq(0..n));
}

#[test]
fn completions_reach_the_mailbox_they_were_addressed_to() {
    let worker = Worker::<u64>::spawn("t-routes", 0).unwrap();
    let a = Arc::new(Mailbox::new().unwrap());
    let b = Arc::new(Mailbox::new().unwrap());
    for i in 0..200u64 {
        let to = if i % 3 == 0 { &a } else { &b };
        worker
            .submit(i, Box::new(move || Ok(i)), Arc::clone(to), new_flag())
            .unwrap();
    }
    let got_a = collect(&a, 67);
    let got_b = collect(&b, 133);
    assert!(got_a.iter().all(|c| c.id % 3 == 0));
    assert!(got_b.iter().all(|c| c.id % 3 != 0));
    assert!(got_a.iter().all(|c| c.result == Ok(c.id)));
}

static GLOBAL: Global<u64> = Global::new("t-global", "MISTRAL_TOK_TEST_UNUSED_LIMIT");

#[test]
fn the_global_worker_starts_on_first_use_and_is_reused() {
    static LAZY: Global<u64> = Global::new("t-lazy", "MISTRAL_TOK_TEST_UNUSED_LIMIT");
    assert!(!LAZY.is_started());
    let w1 = LAZY.get().unwrap() as *const Worker<u64>;
    assert!(LAZY.is_started());
    let w2 = LAZY.get().unwrap() as *const Worker<u64>;
    assert_eq!(w1, w2);
}

/// Runs the test named `name` alone in a fresh copy of this test binary (one test, one thread)
/// and fails if it fails or runs longer than `timeout`. Tests that fork or set environment
/// variables need this: libtest runs the other tests on threads of the same process.
fn in_own_process(name: &str, timeout: Duration, body: impl FnOnce()) {
    const ISOLATED: &str = "MISTRAL_TOK_ISOLATED_TEST";
    if std::env::var(ISOLATED).as_deref() == Ok(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let filter = format!("worker::tests::{name}");
    let mut child = std::process::Command::new(exe)
        .args([
            filter.as_str(),
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(ISOLATED, name)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("re-run the test binary");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the test process") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not finish within {timeout:?} in its own process");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    assert!(status.success(), "{name} failed in its own process:\n{out}");
    // A filter that matched nothing would pass silently.
    assert!(out.contains("1 passed"), "{name} did not run:\n{out}");
}

#[test]
fn the_queue_limit_defaults_to_the_environment_variable() {
    in_own_process(
        "the_queue_limit_defaults_to_the_environment_variable",
        Duration::from_secs(60),
        queue_limit_from_the_environment,
    );
}

fn queue_limit_from_the_environment() {
    static FROM_ENV: Global<u64> = Global::new("t-env", "MISTRAL_TOK_TEST_LIMIT_FROM_ENV");
    // SAFETY: this runs alone in its own process (`in_own_process`): no other thread reads the
    // environment.
    unsafe { std::env::set_var("MISTRAL_TOK_TEST_LIMIT_FROM_ENV", "17") };
    assert_eq!(FROM_ENV.max_queue(), 17);
    FROM_ENV.set_max_queue(3);
    assert_eq!(FROM_ENV.max_queue(), 3);
    static UNSET: Global<u64> = Global::new("t-unset", "MISTRAL_TOK_TEST_LIMIT_NEVER_SET");
    assert_eq!(UNSET.max_queue(), 0);
}

/// In a forked child the parent's worker thread does not exist: the global must notice and start
/// a fresh worker instead of queueing jobs nobody will run.
#[test]
fn a_forked_child_gets_a_fresh_worker() {
    in_own_process(
        "a_forked_child_gets_a_fresh_worker",
        Duration::from_secs(60),
        fork_and_use_the_global_worker,
    );
}

fn fork_and_use_the_global_worker() {
    let mailbox = Arc::new(Mailbox::new().unwrap());
    let parent = GLOBAL.get().unwrap();
    parent
        .submit(1, Box::new(|| Ok(1)), Arc::clone(&mailbox), new_flag())
        .unwrap();
    assert_eq!(collect(&mailbox, 1)[0].result, Ok(1));

    // SAFETY: this process runs only this test (`in_own_process`); the child only runs Rust code
    // of this test and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if GLOBAL.is_started() {
                return 2;
            }
            let child_mailbox = Arc::new(Mailbox::new().unwrap());
            let worker = GLOBAL.get().unwrap();
            if std::ptr::eq(worker, parent) {
                return 3;
            }
            worker
                .submit(
                    9,
                    Box::new(|| Ok(99)),
                    Arc::clone(&child_mailbox),
                    new_flag(),
                )
                .unwrap();
            if !wait_readable(child_mailbox.fd(), Duration::from_secs(10)) {
                return 4;
            }
            match child_mailbox.take().as_slice() {
                [c] if c.id == 9 && c.result == Ok(99) => 0,
                _ => 5,
            }
        }))
        .unwrap_or(6);
        // SAFETY: leaves the child without running the parent's test harness teardown.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child we just forked.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(libc::WEXITSTATUS(status), 0);
    // The parent keeps its own worker.
    assert!(std::ptr::eq(GLOBAL.get().unwrap(), parent));
}
