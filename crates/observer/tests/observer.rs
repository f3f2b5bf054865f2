//! The observer against real processes: a copy of `/bin/sh` under a name unique to each test
//! stands in for `cl-target`, so tests (and real targets other tests start) never see each
//! other's processes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use observer::{Observer, Status, find_process};

/// A spinning shell whose executable file is named `exe_name`; killed on drop.
struct FakeTarget {
    child: Child,
}

impl FakeTarget {
    fn start(exe: &PathBuf) -> FakeTarget {
        let child = Command::new(exe)
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        FakeTarget { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for FakeTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of /bin/sh named `cl-obs-<test>-<pid>` in a fresh directory.
fn target_exe(test: &str) -> (tempfile::TempDir, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("cl-obs-{test}-{}", std::process::id());
    let exe = dir.path().join(&name);
    std::fs::copy("/bin/sh", &exe).unwrap();
    (dir, name, exe)
}

fn observer_for(name: &str) -> Observer {
    Observer::new(name, HashMap::new(), None).unwrap()
}

fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let series_name = series.split('{').next()?;
            (series_name == name).then(|| value.parse().ok())?
        })
}

#[test]
fn finds_the_target_by_executable_name_and_nothing_else() {
    let (_dir, name, exe) = target_exe("find");
    assert_eq!(find_process(&name).unwrap(), None);
    let target = FakeTarget::start(&exe);
    // The child may not have exec'd yet: poll briefly.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = None;
    while found.is_none() && Instant::now() < deadline {
        found = find_process(&name).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(found, Some(target.pid()));
    assert_eq!(find_process(&format!("{name}-other")).unwrap(), None);
}

#[test]
fn samples_the_target_and_follows_it_across_a_restart() {
    let (_dir, name, exe) = target_exe("restart");
    let observer = observer_for(&name);
    assert_eq!(observer.refresh().unwrap(), Status::Searching);
    let text = observer.render().unwrap();
    assert_eq!(metric_value(&text, "cl_observer_target_up"), Some(0.0));
    assert_eq!(metric_value(&text, "process_cpu_percent"), None, "{text}");

    let first = FakeTarget::start(&exe);
    let first_pid = first.pid();
    wait_for(&observer, Status::Watching { pid: first_pid });
    std::thread::sleep(Duration::from_millis(500));
    let text = observer.render().unwrap();
    assert_eq!(metric_value(&text, "cl_observer_target_up"), Some(1.0));
    assert_eq!(
        metric_value(&text, "cl_observer_targets_found_total"),
        Some(1.0)
    );
    assert!(
        text.contains(&format!("pid=\"{first_pid}\"")),
        "the info metric names the watched pid: {text}"
    );
    // A spinning shell burns most of a core (the machine is shared: leave room).
    let cpu = metric_value(&text, "process_cpu_percent").unwrap();
    assert!((20.0..=105.0).contains(&cpu), "cpu {cpu}");
    assert!(metric_value(&text, "process_memory_rss_bytes").unwrap() > 0.0);

    first.kill();
    assert_eq!(observer.refresh().unwrap(), Status::Searching);
    assert_eq!(observer.status(), Status::Searching);

    let second = FakeTarget::start(&exe);
    wait_for(&observer, Status::Watching { pid: second.pid() });
    let text = observer.render().unwrap();
    assert_eq!(
        metric_value(&text, "cl_observer_targets_found_total"),
        Some(2.0)
    );
    assert!(
        text.contains(&format!("pid=\"{}\"", second.pid())),
        "{text}"
    );
    assert!(
        !text.contains(&format!("pid=\"{first_pid}\"")),
        "the old process's series are gone: {text}"
    );
}

fn wait_for(observer: &Observer, expected: Status) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = observer.refresh().unwrap();
        if status == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {status:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_metrics_and_health_over_http() {
    let (_dir, name, exe) = target_exe("http");
    let observer = Arc::new(observer_for(&name));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime.block_on(observer::serve(
            listener,
            observer,
            Duration::from_millis(100),
            async {
                let _ = stopped.await;
            },
        ))
    });
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| {
        let response = client.get(format!("{base}{path}")).send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };

    assert_eq!(get("/health").0, 503);
    let target = FakeTarget::start(&exe);
    // The sampling loop finds the target on its own, without a scrape.
    let deadline = Instant::now() + Duration::from_secs(5);
    while get("/health").0 != 200 {
        assert!(Instant::now() < deadline, "the loop never found the target");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get("/health").1, format!("watching pid {}\n", target.pid()));
    let (status, text) = get("/metrics");
    assert_eq!(status, 200);
    assert!(metric_value(&text, "process_num_threads").unwrap() >= 1.0);
    assert_eq!(get("/nowhere").0, 404);

    target.kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    while get("/health").0 != 503 {
        assert!(Instant::now() < deadline, "the loop never noticed the exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.send(()).unwrap();
    server.join().unwrap().unwrap();
}
